"""The daemon's API, described once: its bodies and queries as pydantic models carrying every bound of
docs/daemon-api.md, so that a handler receives only valid values, and the OpenAPI document built from
them (served at /v1/openapi.json; docs/daemon-api.md is checked against it by the tests).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, ValidationError, field_validator
from pydantic.json_schema import models_json_schema

from vm.containers import KILL_SIGNALS
from vm.containers.image import MODES
from vm.isa import MAX_FUEL
from vm.machine import MAX_MEMORY, MIN_MEMORY, PAGE
from vm.monitor.cage import MAX_CPU_SECONDS, MAX_LIMIT_BYTES

API_VERSION = 1
NAME_PATTERN = r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$"  # Docker's rule for container names
MAX_NAME = 128
MAX_REFERENCE = 512  # an image reference: NAME:TAG or NAME@sha256:..., as the store allows
MAX_SEQUENCE = (1 << 63) - 1  # log sequence numbers are SQLite integers
MAX_STOP_SECONDS = 3600.0
DEFAULT_STOP_SECONDS = 10.0  # `stop`: how long a guest has after SIGTERM before SIGKILL

Mode = Literal[MODES]
Name = Annotated[StrictStr, Field(min_length=1, max_length=MAX_NAME, pattern=NAME_PATTERN)]
Memory = Annotated[StrictInt, Field(ge=MIN_MEMORY, le=MAX_MEMORY, multiple_of=PAGE,
                                    description="guest memory in bytes, a multiple of 4096")]
Fuel = Annotated[StrictInt, Field(ge=0, le=MAX_FUEL, description="the instruction budget")]
CpuSeconds = Annotated[StrictInt, Field(ge=1, le=MAX_CPU_SECONDS)]
LimitBytes = Annotated[StrictInt, Field(ge=1, le=MAX_LIMIT_BYTES)]


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")


class LimitsRequest(_Strict):
    """The cage's limits a create may set; a field not given comes from the image, null is no limit."""

    cpu_seconds: CpuSeconds | None = None
    memory_bytes: LimitBytes | None = None
    output_bytes: LimitBytes | None = None


class CreateRequest(_Strict):
    """POST /v1/containers. What is not given comes from the image's config."""

    image: Annotated[StrictStr, Field(min_length=1, max_length=MAX_REFERENCE, description="NAME:TAG or digest")]
    name: Name | None = Field(None, description="null or absent: one is made from the image's name")
    mode: Mode | None = None
    memory: Memory | None = None
    fuel: Fuel | None = None
    limits: LimitsRequest = LimitsRequest()
    auto_remove: StrictBool = False


class Limits(_Strict):
    cpu_seconds: CpuSeconds | None
    memory_bytes: LimitBytes | None
    output_bytes: LimitBytes


class Settings(_Strict):
    """How a container runs: its image's config with what its create request changed."""

    mode: Mode
    memory: Memory
    fuel: Fuel | None
    limits: Limits
    auto_remove: StrictBool


class Container(BaseModel):
    id: Annotated[str, Field(pattern=r"^[0-9a-f]{32}$")]
    name: Name
    image: str
    digest: str
    status: Literal["created", "running", "exited", "lost"]
    settings: Settings
    created: float
    started: float | None
    finished: float | None
    exit_status: int | None
    result: dict[str, Any] | None


class Version(BaseModel):
    api: Literal[1]
    version: str
    images: str
    running: Annotated[int, Field(ge=0)]


class Removed(BaseModel):
    removed: str
    name: str


class ErrorDetail(BaseModel):
    code: str
    message: str


class Error(BaseModel):
    error: ErrorDetail


class LogChunk(BaseModel):
    """A line of the logs stream: a chunk of output (data in base64), or, last, the container."""

    seq: Annotated[int, Field(ge=1)] | None = None
    stream: Literal["stdout", "stderr"] | None = None
    data: str | None = None
    container: Container | None = None


# -- queries: strings in the URL, so not strict ("1", "true" and "yes" are true) --------------------------
class _Query(BaseModel):
    model_config = ConfigDict(extra="ignore")


class ListQuery(_Query):
    all: bool = Field(False, description="also the containers that are not running")


class StartQuery(_Query):
    attach: bool = Field(False, description="answer with the logs stream until the guest ends")


class StopQuery(_Query):
    timeout: float = Field(DEFAULT_STOP_SECONDS, ge=0, le=MAX_STOP_SECONDS, allow_inf_nan=False,
                           description="seconds between SIGTERM and SIGKILL")


class KillQuery(_Query):
    signal: Literal[KILL_SIGNALS] = Field("KILL", description="the signal sent to the guest")

    @field_validator("signal", mode="before")
    @classmethod
    def _named(cls, value: object) -> object:
        """`term`, `SIGTERM` and `TERM` are one signal, as `kill -s` takes them."""
        return value.upper().removeprefix("SIG") if isinstance(value, str) else value


class LogsQuery(_Query):
    follow: bool = Field(False, description="stream until the guest ends")
    after: int = Field(0, ge=0, le=MAX_SEQUENCE, description="only the chunks after this sequence number")


class RemoveQuery(_Query):
    force: bool = Field(False, description="kill a running container first")


def problem(error: ValidationError, in_query: bool = False) -> str:
    """One line for a request that does not fit its model: where, and what is wrong (with the bound)."""
    first = error.errors(include_url=False, include_input=False)[0]
    if first["type"] == "json_invalid":
        return f"the body is not JSON: {first['msg'].removeprefix('Invalid JSON: ')}"
    where = ".".join(str(part) for part in first["loc"])
    where = (f"?{where}" if in_query else where) or "the body"
    more = f" (and {error.error_count() - 1} more)" if error.error_count() > 1 else ""
    return f"{where}: {first['msg']}{more}"


# -- the document ------------------------------------------------------------------------------------------
_JSON, _NDJSON = "application/json", "application/x-ndjson"
_REF = "#/components/schemas/{model}"
_CONTAINER_PATH = {"name": "ref", "in": "path", "required": True, "schema": {"type": "string"},
                   "description": "a container's id, name, or the start of its id"}
_ERRORS = {"400": "a request that does not fit the API", "401": "TCP without the token, or with another",
           "404": "no such container, image or endpoint", "409": "the container is not in a state for this"}


def _answer(model: type[BaseModel], status: str = "200", media: str = _JSON, many: bool = False) -> dict:
    schema: dict = {"$ref": _REF.format(model=model.__name__)}
    if many:
        schema = {"type": "array", "items": schema}
    error = {"content": {_JSON: {"schema": {"$ref": _REF.format(model="Error")}}}}
    return {status: {"description": "the answer", "content": {media: {"schema": schema}}},
            **{code: {"description": why, **error} for code, why in _ERRORS.items()}}


def _query(model: type[_Query]) -> list[dict]:
    schema = model.model_json_schema()
    return [{"name": name, "in": "query", "required": False, "schema": {k: v for k, v in field.items()
                                                                           if k != "title"}}
            for name, field in schema["properties"].items()]


def openapi() -> dict:
    """The OpenAPI 3.1 document of the daemon's API, from the models above."""
    models = [CreateRequest, Container, Version, Removed, Error, LogChunk]
    _, definitions = models_json_schema([(m, "validation") for m in models], ref_template=_REF)
    on_container = [_CONTAINER_PATH]
    paths = {
        "/v1/version": {"get": {"operationId": "version", "responses": _answer(Version)}},
        "/v1/openapi.json": {"get": {"operationId": "openapi", "responses": {
            "200": {"description": "this document", "content": {_JSON: {"schema": {"type": "object"}}}}}}},
        "/v1/containers": {
            "get": {"operationId": "list", "parameters": _query(ListQuery), "responses": _answer(Container, many=True)},
            "post": {"operationId": "create", "responses": _answer(Container, "201"), "requestBody": {
                "required": True, "content": {_JSON: {"schema": {"$ref": _REF.format(model="CreateRequest")}}}}},
        },
        "/v1/containers/{ref}": {
            "get": {"operationId": "inspect", "parameters": on_container, "responses": _answer(Container)},
            "delete": {"operationId": "remove", "parameters": on_container + _query(RemoveQuery),
                       "responses": _answer(Removed)},
        },
        "/v1/containers/{ref}/start": {"post": {
            "operationId": "start", "parameters": on_container + _query(StartQuery),
            "responses": {**_answer(Container), "200": {"description": "the container, or with attach the logs "
                                                        "stream", "content": {
                _JSON: {"schema": {"$ref": _REF.format(model="Container")}},
                _NDJSON: {"schema": {"$ref": _REF.format(model="LogChunk")}}}}}}},
        "/v1/containers/{ref}/stop": {"post": {"operationId": "stop", "parameters": on_container + _query(StopQuery),
                                               "responses": _answer(Container)}},
        "/v1/containers/{ref}/kill": {"post": {"operationId": "kill", "parameters": on_container + _query(KillQuery),
                                               "responses": _answer(Container)}},
        "/v1/containers/{ref}/wait": {"post": {"operationId": "wait", "parameters": on_container,
                                               "responses": _answer(Container)}},
        "/v1/containers/{ref}/logs": {"get": {"operationId": "logs", "parameters": on_container + _query(LogsQuery),
                                              "responses": _answer(LogChunk, media=_NDJSON)}},
    }
    return {"openapi": "3.1.0", "info": {"title": "vm daemon", "version": str(API_VERSION)}, "paths": paths,
            "components": {"schemas": definitions["$defs"]}}
