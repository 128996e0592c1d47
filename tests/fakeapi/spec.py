"""The Bot API spec (api.json): method lookup, parameter validation and placeholder results."""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

# The project's own copy of the official spec (source and licence beside it), for the tests only.
DEFAULT_SPEC_PATH = Path(__file__).resolve().parent / "telegram-bot-api" / "api.json"

# "Scope type, must be chat" / 'Type of the reaction, always "emoji"': the subtype discriminator.
_CONST = re.compile(r"(?:must be|always) [\"“]?([a-z_]+)[\"”]?")
_INT = re.compile(r"-?\d+")
_SCALARS: dict[str, Any] = {
    "Integer": 0,
    "Float": 0.0,
    "String": "",
    "Boolean": False,
    "True": True,
}


class _Invalid(Exception):
    """A value does not match a type; score says how well it matched, to pick the best message."""

    def __init__(self, message: str, score: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.score = score


@functools.lru_cache(maxsize=4)
def load_spec(path: Path = DEFAULT_SPEC_PATH) -> Spec:
    """Load (once per path) the spec JSON."""
    return Spec(json.loads(Path(path).read_text(encoding="utf-8")))


class Spec:
    """Methods and types of the Bot API, with Telegram-like validation of call parameters."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        self.methods: dict[str, Any] = dict(data["methods"])
        self.types: dict[str, Any] = dict(data["types"])
        self._lower = {name.lower(): name for name in self.methods}
        self._const_cache: dict[str, dict[str, str]] = {}
        # Per method / type: fields by name and the required ones, built once (every call asks).
        self._method_tables: dict[str, tuple[dict[str, Any], list[tuple[str, bool]]]] = {}
        self._type_tables: dict[str, tuple[dict[str, Any], list[str]]] = {}

    def canonical(self, method: str) -> str | None:
        """The spec's spelling of a method name (Telegram matches them case-insensitively)."""
        return self._lower.get(method.lower())

    def returns(self, method: str) -> list[str]:
        """The return types of a method."""
        return list(self.methods[method].get("returns", []))

    def validate(
        self, method: str, params: Mapping[str, Any], files: Collection[str] = ()
    ) -> tuple[dict[str, Any], list[str]]:
        """Decode and check a call's parameters; return (decoded params, problems)."""
        fields, required = self._method_table(method)
        decoded: dict[str, Any] = {}
        problems: list[str] = []
        for name, value in params.items():
            if value is None:
                continue  # PTB and Telegram treat null as absent
            if name not in fields:
                problems.append(f'unknown parameter "{name}"')
                continue
            try:
                decoded[name] = self._check(value, fields[name]["types"], name, True, files)
            except _Invalid as exc:
                problems.append(exc.message)
        for name, uploadable in required:
            given = params.get(name) is not None or (uploadable and name in files)
            if not given:
                problems.append(f'parameter "{name}" is required')
        return decoded, problems

    def _method_table(self, method: str) -> tuple[dict[str, Any], list[tuple[str, bool]]]:
        """A method's fields by name, and its required ones (with whether one can be uploaded)."""
        table = self._method_tables.get(method)
        if table is None:
            fields = {f["name"]: f for f in self.methods[method].get("fields", [])}
            required = [(n, "InputFile" in f["types"]) for n, f in fields.items() if f["required"]]
            table = self._method_tables[method] = (fields, required)
        return table

    def _type_table(
        self, type_name: str, tdef: Mapping[str, Any]
    ) -> tuple[dict[str, Any], list[str]]:
        """A type's fields by name, and the names of its required ones."""
        table = self._type_tables.get(type_name)
        if table is None:
            fields = {f["name"]: f for f in tdef.get("fields", [])}
            table = (fields, [n for n, f in fields.items() if f["required"]])
            self._type_tables[type_name] = table
        return table

    def placeholder(self, type_expr: str, depth: int = 0) -> Any:
        """A minimal value of a type: required fields filled with zero values."""
        if type_expr.startswith("Array of "):
            return []
        if type_expr in _SCALARS:
            return _SCALARS[type_expr]
        tdef = self.types.get(type_expr)
        if tdef is None or depth > 8:
            return {}
        if "subtypes" in tdef:
            return self.placeholder(tdef["subtypes"][0], depth + 1)
        consts = self._consts(type_expr)
        return {
            f["name"]: consts.get(f["name"], self.placeholder(f["types"][0], depth + 1))
            for f in tdef.get("fields", [])
            if f["required"]
        }

    def _consts(self, type_name: str) -> dict[str, str]:
        if type_name not in self._const_cache:
            consts: dict[str, str] = {}
            for field in self.types.get(type_name, {}).get("fields", []):
                m = _CONST.search(field.get("description", ""))
                if field["required"] and field["types"] == ["String"] and m:
                    consts[field["name"]] = m.group(1)
            self._const_cache[type_name] = consts
        return self._const_cache[type_name]

    def _check(
        self, value: Any, types: list[str], path: str, top: bool, files: Collection[str]
    ) -> Any:
        if len(types) == 1:  # most fields: its complaint is the answer, nothing to choose from
            return self._check_one(value, types[0], path, top, files)
        failures: list[_Invalid] = []
        for type_expr in types:
            try:
                return self._check_one(value, type_expr, path, top, files)
            except _Invalid as exc:
                failures.append(exc)
        best = max(failures, key=lambda f: f.score)
        if len(failures) == 1 or best.score > 0:
            raise best
        raise _Invalid(f'field "{path}" must be of type {" or ".join(types)}')

    def _check_one(
        self, value: Any, type_expr: str, path: str, top: bool, files: Collection[str]
    ) -> Any:
        if type_expr in _SCALARS or type_expr == "InputFile":  # the commonest, first
            return _scalar(value, type_expr, path, files)
        if type_expr.startswith("Array of "):
            value = _json(value, path) if top and isinstance(value, str) else value
            if not isinstance(value, list | tuple):
                raise _Invalid(f'field "{path}" must be an Array')
            inner = [type_expr[len("Array of ") :]]
            return [
                self._check(v, inner, f"{path}[{i}]", False, files) for i, v in enumerate(value)
            ]
        tdef = self.types.get(type_expr)
        if tdef is None:
            return value  # a type newer than this spec copy: let it through
        if "subtypes" in tdef:
            value = _json(value, path) if top and isinstance(value, str) else value
            self._check_discriminator(value, tdef["subtypes"], path)
            return self._check(value, tdef["subtypes"], path, top, files)
        return self._check_object(value, type_expr, tdef, path, top, files)

    def _check_discriminator(self, value: Any, subtypes: list[str], path: str) -> None:
        # A clear message for {"type": "chatt"} instead of one subtype's complaint.
        consts = [self._consts(name) for name in subtypes]
        keys = {key for c in consts for key in c}
        if not isinstance(value, dict) or len(keys) != 1 or not all(consts):
            return
        key = keys.pop()
        allowed = [c[key] for c in consts]
        if value.get(key) not in allowed:
            raise _Invalid(f'field "{path}.{key}" must be one of {", ".join(allowed)}', 1)

    def _check_object(
        self,
        value: Any,
        type_name: str,
        tdef: Mapping[str, Any],
        path: str,
        top: bool,
        files: Collection[str],
    ) -> dict[str, Any]:
        value = _json(value, path) if top and isinstance(value, str) else value
        if not isinstance(value, dict):
            raise _Invalid(f'field "{path}" must be a JSON object ({type_name})')
        fields, required = self._type_table(type_name, tdef)
        if not fields:
            return value  # e.g. CallbackGame: an object with no fields yet
        consts = self._consts(type_name)
        score = len(set(value) & set(fields))
        for name, const in consts.items():
            if value.get(name) != const:
                raise _Invalid(f'field "{path}.{name}" must be "{const}" for {type_name}', score)
        score += 10 * len(consts)
        out: dict[str, Any] = {}
        for name, item in value.items():
            if name not in fields:
                raise _Invalid(f'unknown field "{path}.{name}" in {type_name}', score)
            try:
                out[name] = self._check(item, fields[name]["types"], f"{path}.{name}", False, files)
            except _Invalid as exc:
                raise _Invalid(exc.message, score + exc.score) from None
        for name in required:
            if name not in out:
                raise _Invalid(f'field "{path}.{name}" is required in {type_name}', score)
        return out


def _json(value: str, path: str) -> Any:
    try:
        return json.loads(value)
    except ValueError:
        raise _Invalid(f'can\'t parse JSON in field "{path}"') from None


def _mismatch(path: str, type_expr: str) -> _Invalid:
    """The error for a scalar of the wrong type (built only when raised: most values match)."""
    return _Invalid(f'field "{path}" must be of type {type_expr}')


def _scalar(value: Any, type_expr: str, path: str, files: Collection[str]) -> Any:
    # Form-encoded calls carry every scalar as a string, so strings are decoded like Telegram does.
    if type_expr == "Integer":
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str) and _INT.fullmatch(value.strip()):
            return int(value)
        raise _mismatch(path, type_expr)
    if type_expr == "Float":
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
        raise _mismatch(path, type_expr)
    if type_expr in ("Boolean", "True"):
        if isinstance(value, str) and value.lower() in ("true", "false", "1", "0"):
            value = value.lower() in ("true", "1")
        if not isinstance(value, bool) or (type_expr == "True" and not value):
            raise _mismatch(path, type_expr)
        return value
    if type_expr == "String":
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)  # what a form-encoded call would have carried
        if not isinstance(value, str):
            raise _mismatch(path, type_expr)
        return value
    # InputFile: only an upload, referenced as attach://<part name>.
    if isinstance(value, str) and value.startswith("attach://") and value[9:] in files:
        return value
    raise _Invalid(f'field "{path}" must be an uploaded file (attach://<name>)')
