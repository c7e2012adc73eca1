"""Hook deliveries: state changes of processes become signed POSTs (HookDeliveryFunction)."""
