"""What a webhook answers once its alerts or events are committed."""

from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel, Field


class IngestAnswer(BaseModel):
    """``{"accepted": n, "duplicates": n}``: new alerts (events) and ones seen before."""

    accepted: int = Field(ge=0)
    duplicates: int = Field(ge=0)

    def response(self, status: int = 200) -> web.Response:
        """This answer as JSON."""
        return web.json_response(text=self.model_dump_json(), status=status)
