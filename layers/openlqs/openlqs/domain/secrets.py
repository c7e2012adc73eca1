"""Write-only secrets of resources (object stores, hooks, callbacks): sealed at rest, never returned."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from openlqs.domain.ports import ResourceKind, SecretBox
from openlqs.errors import BadRequest

#: ``_internal`` key of a resource's sealed secret.
SEALED_SECRET = "secret_ciphertext"


class SealedSecrets:
    """The secrets of one kind of resource, sealed with the deployment's key (``SecretBox``; KMS on AWS)
    and bound to the resource's id by the encryption context (``{"<kind>_id": id}``), so a ciphertext
    copied onto another resource does not open."""

    def __init__(self, box: SecretBox | None, kind: ResourceKind[Any]) -> None:
        self.box = box
        self.kind = kind

    def _context(self, resource_id: UUID) -> dict[str, str]:
        return {f"{self.kind.name}_id": str(resource_id)}

    def seal(self, resource: Any, secret: str | None) -> None:
        """Keep ``secret`` sealed on ``resource`` (None removes it); ``BadRequest`` without a key."""
        if secret is None:
            resource._internal.pop(SEALED_SECRET, None)
            return
        if self.box is None:
            what = self.kind.name.replace("_", "-")
            raise BadRequest(f"This deployment cannot store {what} secrets (no encryption key configured).")
        resource._internal[SEALED_SECRET] = self.box.encrypt(secret, self._context(resource.id))

    def open(self, resource: Any) -> str | None:
        """The secret in clear, or None when the resource has none."""
        ciphertext = resource._internal.get(SEALED_SECRET)
        if ciphertext is None or self.box is None:
            return None
        return self.box.decrypt(str(ciphertext), self._context(resource.id))


def without_field(request: Any, name: str) -> Any:
    """A copy of a PATCH body that does not supply ``name`` (a write-only field, handled apart)."""
    plain = request.model_copy()
    plain.__pydantic_fields_set__ = request.model_fields_set - {name}
    return plain
