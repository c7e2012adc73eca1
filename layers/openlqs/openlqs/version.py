"""The package's version and the LogQS API version the server speaks."""

__version__ = "0.1.0"

#: The LogQS API version this server speaks (the official client compares major and minor).
LOGQS_API_VERSION = "1.1.0"
