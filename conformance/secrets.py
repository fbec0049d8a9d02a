"""The one redaction layer: known secret values and credential patterns never reach a report, log or file.

Secrets are registered as the run learns them (kubeconfig credentials, every credential a service check
reads, `--redact-env` values) and replaced, in every encoding they may take, by `***`. A pure library: the
pytest plugin that passes every report, message and written file of a run through it is
conformance.run.secrecy.

The registry is process-wide on purpose: what must never leak is known to the process (a token the
kubernetes client refreshes, a credential a service check read), whichever run or thread learnt it.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import functools
import html
import json
import re
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote, quote_plus, urlsplit

REDACTED = "***"
# Shorter values are not registered: replacing every "admin" or "1234" in a report would destroy it,
# and such values are not secrets worth the name. Patterns still catch them in credential positions.
MIN_SECRET_LENGTH = 6
# A base64 fragment shorter than this could match unrelated base64 by chance.
MIN_FRAGMENT_LENGTH = 8
MAX_KEY_FILE_BYTES = 1 << 20


class _Registry:
    """The registered secrets and every form of them."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        # Each registered value, and whether its encodings are wanted too (not for fragments such as PEM lines).
        self.secrets: dict[str, bool] = {}
        # Every form of every registered secret, longest first (so a longer form is never cut by a shorter one).
        # Replaced whole under the lock; readers take the current tuple without locking.
        self.forms: tuple[str, ...] = ()
        self.byte_forms: tuple[bytes, ...] = ()

    def rebuild(self) -> None:
        every: set[str] = set()
        for secret, encodings in self.secrets.items():
            every |= forms_of(secret, encodings)
        ordered = tuple(sorted(every, key=lambda f: (-len(f), f)))
        self.forms = ordered
        self.byte_forms = tuple(f.encode("utf-8", "surrogateescape") for f in ordered)

    def clear(self) -> None:
        with self.lock:
            self.secrets.clear()
            self.forms, self.byte_forms = (), ()


_REGISTRY = _Registry()


# -- the registry ----------------------------------------------------------------------------------------


def _json_ascii(text: str) -> str:
    return json.dumps(text)[1:-1]


def _json_unicode(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)[1:-1]


def _html(text: str) -> str:
    return html.escape(text, quote=True)


def _markupsafe(text: str) -> str:
    """As Jinja escapes (pytest-html's template): quotes as &#34; and &#39;, not html.escape's entities."""
    return _html(text).replace("&quot;", "&#34;").replace("&#x27;", "&#39;")


# How text reaches the files a run writes: JSON bodies and blobs (escaped as JSON, ASCII or not, `/`
# sometimes as `\/`), HTML (pytest-html escapes logs, then its template puts them, in a JSON blob, in
# an attribute).
_CHAINS: tuple[tuple[Callable[[str], str], ...], ...] = (
    (),
    (_json_ascii,),
    (_json_unicode,),
    (_html,),
    (lambda t: html.escape(t, quote=False),),
    (lambda t: _json_ascii(t).replace("/", "\\/"),),
    (_html, _json_ascii),
    (_json_ascii, _html),
    (_markupsafe,),
    (_json_ascii, _markupsafe),
    (_html, _json_ascii, _html),
    (_html, _json_ascii, _markupsafe),
    (_html, _json_unicode, _html),
)


def _base64_forms(data: bytes) -> set[str]:
    """Standard and URL-safe base64, padded and not, plus the stable core of the secret at each offset
    of a longer base64 blob (e.g. a password inside `Basic base64(user:password)`)."""
    forms: set[str] = set()
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        whole = encode(data).decode("ascii")
        forms |= {whole, whole.rstrip("=")}
        for start in (0, 1, 2):
            chunk = data[start:]
            chunk = chunk[: len(chunk) - len(chunk) % 3]
            core = encode(chunk).decode("ascii")
            if len(core) >= MIN_FRAGMENT_LENGTH:
                forms.add(core)
    return forms


def _url_forms(text: str) -> set[str]:
    once = quote(text, safe="")
    lower = re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), once)
    return {once, lower, quote(text), quote_plus(text), quote(once, safe="")}


def forms_of(secret: str, encodings: bool = True) -> set[str]:
    """Every form a secret may take in the run's output: raw, base64, URL-encoded, JSON- and HTML-escaped."""
    base = {secret}
    if encodings:
        base |= _url_forms(secret) | _base64_forms(secret.encode("utf-8"))
    forms: set[str] = set()
    for form in base:
        for chain in _CHAINS:
            value = form
            for step in chain:
                value = step(value)
            forms.add(value)
    return {f for f in forms if len(f) >= min(MIN_SECRET_LENGTH, len(secret))}


def register(value: str | bytes | None, *, encodings: bool = True) -> None:
    """Remember a secret value so that it is redacted from everything the run writes.

    Values shorter than MIN_SECRET_LENGTH are ignored. A `user:password` value registers the password
    alone too. Nothing is ever logged or raised that contains the value.
    """
    if value is None:
        return
    text = value.decode("utf-8", "surrogateescape") if isinstance(value, bytes) else str(value)
    candidates = {text, text.strip()}
    user, sep, password = text.strip().partition(":")
    if sep and user and "//" not in password:
        candidates.add(password)
    wanted = {c for c in candidates if len(c.strip()) >= MIN_SECRET_LENGTH}
    with _REGISTRY.lock:
        known = _REGISTRY.secrets
        new = {c for c in wanted if c not in known or (encodings and not known[c])}
        if not new:
            return
        known.update(dict.fromkeys(new, encodings))
        _REGISTRY.rebuild()


def _key_material(path: str) -> None:
    """The client key the kubernetes client wrote from client-key-data (or a client-key path)."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_KEY_FILE_BYTES)
    except OSError:
        return
    text = data.decode("utf-8", "replace")
    register(text)  # its base64 form is the kubeconfig's client-key-data
    body = [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("-----")]
    if body:
        register("".join(body), encodings=False)
        for line in body:
            # A key printed line by line (a terminal, a log) is caught line by line.
            register(line, encodings=False)


def _api_keys(configuration: Any) -> None:
    for value in dict(getattr(configuration, "api_key", None) or {}).values():
        if not isinstance(value, str):
            continue
        scheme, _, credential = value.strip().partition(" ")
        register(credential if credential and scheme.lower() in ("bearer", "basic", "token") else value)


def register_configuration(configuration: Any) -> None:
    """Register what a kubernetes client Configuration authenticates with.

    Bearer tokens (inline, token files, exec plugins and auth providers all end up in `api_key`),
    basic-auth passwords, the client key, and credentials in the server or proxy URL. Tokens an exec
    plugin or a rotating token file refreshes later are registered as they are refreshed.
    """
    _api_keys(configuration)
    password = getattr(configuration, "password", None)
    if password:
        register(str(password))
        username = getattr(configuration, "username", None)
        if username:
            register(f"{username}:{password}")
    key_file = getattr(configuration, "key_file", None)
    if key_file:
        _key_material(str(key_file))
    for attribute in ("host", "proxy"):
        url = getattr(configuration, attribute, None)
        if isinstance(url, str) and "@" in url:
            try:
                split = urlsplit(url)
            except ValueError:
                continue
            if split.password:
                register(split.password)
    hook = getattr(configuration, "refresh_api_key_hook", None)
    if hook is not None and not getattr(hook, "_registers_secrets", False):

        def refreshed(config: Any) -> None:
            hook(config)
            _api_keys(config)

        refreshed._registers_secrets = True  # type: ignore[attr-defined]
        configuration.refresh_api_key_hook = refreshed


def registered() -> int:
    """How many secret values are registered (never the values)."""
    return len(_REGISTRY.secrets)


def forget_all() -> None:
    """Drop every registered secret (for tests that need a clean registry)."""
    _REGISTRY.clear()


# -- patterns: credentials in the positions where they are recognizable without being known ------------

# Userinfo of a URL: everything between :// and the last @ of the authority (a password may hold @).
_URL_USERINFO = re.compile(r"(://)[^/?#\s\"'<>\\]+@")
# A header value is a credential when it has an auth scheme or looks like a token (12+ token characters):
# prose such as "Authorization: 7 policies enforced" (a report section) is not one.
_AUTHORIZATION = re.compile(
    r"(?i)(authorization[\"']?[ \t]*[:=][ \t]*[\"']?)"
    r"((?:bearer|basic|digest|negotiate|token|apikey|aws4-hmac-sha256)[ \t]+)?"
    r"([A-Za-z0-9._~+/=:-]{4,})"
)
_BEARER = re.compile(r"(?i)(bearer)([ \t]+)([A-Za-z0-9\-._~+/]+=*)")
_BASIC = re.compile(r"(?i)(basic)([ \t]+)([A-Za-z0-9+/]{4,}={0,2})(?![A-Za-z0-9+/=])")
_KEY_VALUE = re.compile(
    r"(?i)(password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key|private[_-]?key)"
    r"(?![A-Za-z0-9])"  # the keyword ends the key: `tokens=3` and `secretName` are not credentials
    r"([\"']?[ \t]*[=:][ \t]*)"
    r"(\"(?:[^\"\\\n]|\\.)*\"|'[^'\n]*'|[^\s\"'&,;<>\\{}\[\]()]+)"
)


def _authorization(match: re.Match[str]) -> str:
    if not match.group(2) and len(match.group(3)) < 12:
        return match.group(0)  # no scheme and too short for a token: prose, e.g. "Authorization: 7 policies"
    return f"{match.group(1)}{match.group(2) or ''}{REDACTED}"


def _bearer(match: re.Match[str]) -> str:
    token = match.group(3)
    # "Bearer tokens are..." is prose; a credential has digits, symbols or capitals.
    if len(token) < MIN_FRAGMENT_LENGTH or (token.isalpha() and token.islower()):
        return match.group(0)
    return f"{match.group(1)}{match.group(2)}{REDACTED}"


def _basic(match: re.Match[str]) -> str:
    token = match.group(3)
    try:
        decoded = base64.b64decode(token + "=" * (-len(token) % 4), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return match.group(0)
    # "Basic authentication" is prose; base64 of user:password is a credential.
    return f"{match.group(1)}{match.group(2)}{REDACTED}" if ":" in decoded else match.group(0)


def _key_value(match: re.Match[str]) -> str:
    key, separator, value = match.groups()
    if value.startswith(('"', "'")):
        return f"{key}{separator}{value[0]}{REDACTED}{value[0]}"
    if separator.startswith(('"', "'")):
        return match.group(0)  # a JSON key with a number, object or literal: not a credential, keep JSON valid
    return f"{key}{separator}{REDACTED}"


_KEYWORDS: tuple[str, ...] = ("passw", "pwd", "secret", "token", "apikey", "api_key", "api-key")
_KEYWORDS += ("accesskey", "access_key", "access-key", "privatekey", "private_key", "private-key")

# Where each pattern can start: literals found with str.find in lower-cased text, several times faster
# than a (?i) scan over megabytes of evidence; the full pattern then runs only at those offsets.
# (literals, full pattern, replacement, whether the literal must start a word)
_PATTERNS: tuple[tuple[tuple[str, ...], re.Pattern[str], Callable[[re.Match[str]], str], bool], ...] = (
    (("authorization",), _AUTHORIZATION, _authorization, True),
    (("bearer",), _BEARER, _bearer, True),
    (("basic",), _BASIC, _basic, True),
    (_KEYWORDS, _KEY_VALUE, _key_value, False),
)


def _offsets(lower: str, literals: tuple[str, ...], word_start: bool) -> list[int]:
    found: set[int] = set()
    for literal in literals:
        at = lower.find(literal)
        while at != -1:
            if not (word_start and at > 0 and lower[at - 1].isalnum()):
                found.add(at)
            at = lower.find(literal, at + 1)
    return sorted(found)


def _substitute(
    text: str,
    literals: tuple[str, ...],
    full: re.Pattern[str],
    replace: Callable[[re.Match[str]], str],
    word_start: bool,
) -> str:
    lower = text.lower()
    if len(lower) != len(text):  # lower-casing moved offsets (rare scripts): the plain, slower path
        return full.sub(replace, text)
    parts: list[str] = []
    last = 0
    for at in _offsets(lower, literals, word_start):
        if at < last:
            continue
        match = full.match(text, at)
        if match is None:
            continue
        parts += [text[last : match.start()], replace(match)]
        last = match.end()
    if not parts:
        return text
    parts.append(text[last:])
    return "".join(parts)


# Whether a short text holds any pattern's starting literal at all: one scan in C, where the literal search
# below costs a lower-cased copy and a dozen finds per call (evidence redacts tens of thousands of
# annotation values, nearly all without any).
_ANY_LITERAL = re.compile("|".join(re.escape(literal) for entry in _PATTERNS for literal in entry[0]), re.IGNORECASE)
_SHORT = 4096


def redact_patterns(text: str) -> str:
    """Credentials recognizable by position: URL userinfo, Authorization values, password=/token= pairs."""
    return _redact_short(text) if len(text) < _SHORT else _redact_patterns(text)


# Short texts repeat: the same annotation on every pod of a workload, the same message on every check.
# The patterns are fixed (registered secrets are replaced elsewhere), so a text's result never changes.
@functools.lru_cache(maxsize=8192)
def _redact_short(text: str) -> str:
    return _redact_patterns(text)


def _redact_patterns(text: str) -> str:
    if "://" in text:
        text = _URL_USERINFO.sub(r"\1" + REDACTED + "@", text)
    if len(text) < _SHORT and _ANY_LITERAL.search(text) is None:
        return text
    for literals, full, replace, word_start in _PATTERNS:
        text = _substitute(text, literals, full, replace, word_start)
    return text


# -- redaction -----------------------------------------------------------------------------------------


def redact_known(text: str) -> str:
    """Replace every form of every registered secret; nothing else changes."""
    for form in _REGISTRY.forms:
        if form in text:
            text = text.replace(form, REDACTED)
    return text


def redact_text(text: str) -> str:
    """The layer for text: registered secrets in all their forms, then credential patterns."""
    if not text:
        return text
    return redact_patterns(redact_known(text))


def redact_bytes(data: bytes) -> bytes:
    """The layer for bodies and files (bytes that are not UTF-8 pass through, redacted where they are)."""
    if not data:
        return data
    for form in _REGISTRY.byte_forms:  # on bytes: memchr-fast, and no decoding when nothing is registered
        if form in data:
            data = data.replace(form, REDACTED.encode())
    text = data.decode("utf-8", "surrogateescape")
    redacted = redact_patterns(text)
    return data if redacted == text else redacted.encode("utf-8", "surrogateescape")


def contains_secret(text: str) -> bool:
    """Whether any form of a registered secret occurs in the text."""
    return any(form in text for form in _REGISTRY.forms)


def _walkable(value: object) -> bool:
    module = type(value).__module__ or ""
    return hasattr(value, "__dict__") and module.startswith(("_pytest.", "conformance.", "pytest_html"))


def redact_value(value: Any, _seen: set[int] | None = None, _depth: int = 0) -> Any:
    """Redact every string inside a value: containers in place, tuples rebuilt, and the fields of
    pytest's and the suite's own objects (report reprs, records), frozen dataclasses included."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, bytes):
        return redact_bytes(value)
    if value is None or isinstance(value, (bool, int, float)) or _depth > 16:
        return value
    seen = _seen if _seen is not None else set()
    if id(value) in seen:
        return value
    seen.add(id(value))
    if isinstance(value, BaseException):
        redact_exception(value, seen)
        return value
    if isinstance(value, list):
        value[:] = [redact_value(v, seen, _depth + 1) for v in value]
        return value
    if isinstance(value, dict):
        for key in list(value):
            value[key] = redact_value(value[key], seen, _depth + 1)
        return value
    if isinstance(value, tuple):
        items = [redact_value(v, seen, _depth + 1) for v in value]
        if all(a is b for a, b in zip(items, value, strict=True)):
            return value
        maker = getattr(type(value), "_make", None)  # a namedtuple keeps its type
        return maker(items) if maker is not None else tuple(items)
    if _walkable(value):
        for name, attribute in list(vars(value).items()):
            new = redact_value(attribute, seen, _depth + 1)
            if new is not attribute:
                object.__setattr__(value, name, new)  # frozen dataclasses too
    return value


def redact_exception(exc: BaseException, _seen: set[int] | None = None) -> None:
    """Redact an exception in place (args, message attributes, notes, its cause and context), so that
    whatever formats it later (pytest, allure, a log) sees no secret."""
    seen = _seen if _seen is not None else set()
    seen.add(id(exc))
    with contextlib.suppress(TypeError, AttributeError):
        exc.args = tuple(redact_value(a, seen) for a in exc.args)
    for name, attribute in list(getattr(exc, "__dict__", {}).items()):
        new = redact_value(attribute, seen)
        if new is not attribute:
            with contextlib.suppress(AttributeError, TypeError):
                setattr(exc, name, new)
    if isinstance(exc, OSError):
        for name in ("strerror", "filename", "filename2"):
            current = getattr(exc, name, None)
            if isinstance(current, str):
                setattr(exc, name, redact_text(current))
    for linked in (exc.__cause__, exc.__context__, *getattr(exc, "exceptions", ())):
        if isinstance(linked, BaseException) and id(linked) not in seen:
            redact_exception(linked, seen)


def registry_size() -> int:
    """How many forms of secrets are registered: a file redacted at this size holds none of them."""
    return len(_REGISTRY.byte_forms)


def scrub_files(paths: Iterable[Path], trusted: Callable[[Path, int], bool] = lambda _p, _n: False) -> list[Path]:
    """Rewrite files that hold a registered secret in any form (the last line of defence before a run
    ends); returns the files changed. Only registered values are replaced: patterns are applied where
    text is produced, never to finished files whose markup they could mistake for credentials. Files the
    run wrote through this layer with every secret now registered, and unchanged since (`trusted(path,
    registry size)`, conformance.written), are not read again."""
    changed: list[Path] = []
    forms = _REGISTRY.byte_forms
    if not forms:
        return changed
    replacement = REDACTED.encode()
    for path in paths:
        if trusted(path, len(forms)):
            continue
        try:
            data = path.read_bytes()
        except OSError:
            continue
        cleaned = data
        for form in forms:
            if form in cleaned:
                cleaned = cleaned.replace(form, replacement)
        if cleaned != data:
            path.write_bytes(cleaned)
            changed.append(path)
    return changed


def files_under(root: Path) -> Iterable[Path]:
    if root.is_file():
        yield root
    elif root.is_dir():
        yield from (p for p in sorted(root.rglob("*")) if p.is_file() and not p.is_symlink())


# -- the terminal --------------------------------------------------------------------------------------


class RedactingStream:
    """A text stream that passes everything written through the layer (the terminal reporter's output)."""

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream

    @property
    def wrapped(self) -> IO[str]:
        return self._stream

    def write(self, text: str) -> int:
        self._stream.write(redact_text(text))
        return len(text)

    def writelines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)
