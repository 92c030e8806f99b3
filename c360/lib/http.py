"""The one outbound HTTP client of c360: every call to a source, a webhook or a partner API goes through it.

What it guarantees, whoever the caller:

- **Bounded**: connect, read and total timeouts (small by default), and a response size cap enforced while
  streaming, so a slow or huge answer cannot pin a worker or fill its memory.
- **No SSRF**: http and https only; the host is resolved here and every address is checked before connecting
  (loopback, private, link-local, cloud metadata, multicast, reserved...). The connection is then made to the
  address that was checked (the hostname still drives TLS verification and the Host header), so a DNS answer
  that changes between the check and the connect cannot steer us inward. Private destinations are refused
  unless the caller allows them (``allow_private`` for an on-premises source, or ``allow`` for named hosts and
  networks); metadata and link-local addresses only through ``allow``.
- **No surprise redirects**: none is followed unless the caller says how many; a redirect never goes from
  https to http, never to a private address the caller did not name, and drops the caller's headers
  (credentials) when it leaves the origin.
- **No retries here**: the orchestrator owns retries. Every failure is an :class:`HttpError` that says whether
  trying again later may help, and how long the server asked us to wait.
- **Nothing secret in text**: messages and log lines carry the method, the host and the path *template*
  (``/customers/{id}``), never the query string, bodies or headers.

Built on httpx (sync), with a fresh connection per exchange: DSAR and webhook traffic is low, and not pooling
keeps a TLS session made for one hostname from being reused for another on the same address.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import ipaddress
import json as jsonlib
import logging
import re
import socket
import ssl
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from functools import cache
from importlib import metadata
from typing import Any
from urllib.parse import quote, urlsplit

import certifi
import httpx

logger = logging.getLogger(__name__)
# httpx logs every request's full URL, query string included, at INFO: the line that goes out is ours.
for _name in ("httpx", "httpcore"):
    logging.getLogger(_name).setLevel(logging.WARNING)

try:
    _VERSION = metadata.version("c360")
except metadata.PackageNotFoundError:  # running from a checkout that was never installed
    _VERSION = "0.0.0"
USER_AGENT = f"c360/{_VERSION}"

DEFAULT_MAX_BYTES = 5 * 1024 * 1024
RETRYABLE_STATUSES = frozenset({408, 429, 502, 503, 504})
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_FIXED_HEADERS = frozenset({"host", "user-agent", "content-length", "transfer-encoding"})
_KEPT_ACROSS_ORIGINS = frozenset({"accept", "content-type"})
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_HOSTNAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*\.?$")

# Cloud metadata services, refused even with allow_private (some sit in ranges Python calls global or private).
_METADATA = frozenset(
    ipaddress.ip_address(address)
    for address in ("169.254.169.254", "169.254.170.2", "100.100.100.200", "192.0.0.192", "fd00:ec2::254")
)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class HttpError(Exception):
    """An outbound call failed. ``retryable`` says whether the same call later may succeed (connection
    refused, timeout, 429, 502, 503, 504); ``status`` is the HTTP status when the server answered;
    ``retry_after`` is the server's Retry-After in seconds, when it sent one.

    The message names the method, host and path template, never the query string, headers or bodies.
    """

    def __init__(
        self, message: str, *, retryable: bool, status: int | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable
        self.status = status
        self.retry_after = retry_after


@dataclass(frozen=True)
class Timeout:
    """Seconds allowed to connect, to wait for any one read, and for the whole call (redirects included)."""

    connect: float = 3.0
    read: float = 10.0
    total: float = 30.0

    def __post_init__(self) -> None:
        for name in ("connect", "read", "total"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
                raise ValueError(f"Timeout.{name} must be a positive number of seconds.")


DEFAULT_TIMEOUT = Timeout()


@dataclass(frozen=True)
class Response:
    """A complete answer: 2xx only (anything else is an :class:`HttpError`), body read within the cap."""

    status: int
    headers: Mapping[str, str]  # lower-cased names
    content: bytes


@dataclass(frozen=True)
class JsonResponse:
    """A 2xx answer whose body was JSON; ``data`` is None when the body was empty (204, say)."""

    status: int
    headers: Mapping[str, str]
    data: Any


def request(
    method: str,
    url: str,
    *,
    path_params: Mapping[str, str | int] | None = None,
    params: Mapping[str, str | int] | None = None,
    headers: Mapping[str, str] | None = None,
    content: bytes | None = None,
    timeout: Timeout | float | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_redirects: int = 0,
    allow_private: bool = False,
    allow: Collection[str] = (),
    ssl_context: ssl.SSLContext | None = None,
) -> Response:
    """Send one request and return its 2xx response; raise :class:`HttpError` for anything else.

    ``url`` is a template: ``{name}`` placeholders in its path are filled from ``path_params`` (each value
    percent-encoded as one segment) and the unfilled template is what logs and errors show, so resource ids
    stay out of them. ``params`` become the query string, which is never logged: still, prefer the body for
    personal data, since proxies and servers log URLs.

    ``timeout`` is a :class:`Timeout` or a number of seconds for the whole call. ``max_bytes`` caps the
    (decoded) body. ``max_redirects`` is how many redirects may be followed (none by default).
    ``allow_private`` lets the call reach loopback and private addresses (an on-premises source);
    ``allow`` lists hostnames and networks ("crm.internal", "10.20.0.0/16", "127.0.0.1") that are reachable
    whatever their address. ``ssl_context`` replaces the default trust store (an on-premises CA).
    """
    method = _check_method(method)
    limits = _check_timeout(timeout)
    if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes <= 0:
        raise ValueError("max_bytes must be a positive integer.")
    if isinstance(max_redirects, bool) or not isinstance(max_redirects, int) or max_redirects < 0:
        raise ValueError("max_redirects must be zero or a positive integer.")
    if content is not None and not isinstance(content, bytes):
        raise ValueError("content must be bytes; use request_json to send JSON.")
    caller_headers = _check_headers(headers)
    allowed_hosts, allowed_networks = _parse_allow(allow)
    path_template, filled_url = _fill_template(url, path_params or {})
    target = _parse_url(filled_url, label=f"{method} <invalid url>")
    label = f"{method} {target.netloc}{path_template}"

    deadline = time.monotonic() + limits.total
    current = target
    current_method, current_content, current_headers = method, content, caller_headers
    query = dict(params) if params else None
    for hop in range(max_redirects + 1):
        # The caller's allow_private covers the host the caller named, not hosts a server points us to.
        same_host = current.host == target.host
        addresses = _resolve(
            current,
            label,
            allow_private=allow_private and same_host,
            allowed_hosts=allowed_hosts,
            allowed_networks=allowed_networks,
        )
        started = time.monotonic()
        status, response_headers, body = _exchange(
            current_method,
            current,
            addresses,
            label=label,
            params=query,
            headers=current_headers,
            content=current_content,
            limits=limits,
            deadline=deadline,
            max_bytes=max_bytes,
            ssl_context=ssl_context,
        )
        elapsed_ms = round((time.monotonic() - started) * 1000)
        logger.info("http %s -> %s in %d ms", label, status, elapsed_ms)

        if status in _REDIRECT_STATUSES and "location" in response_headers:
            if hop == max_redirects:
                message = f"{label}: HTTP {status} redirect refused (following redirects is not allowed)"
                if max_redirects:
                    message = f"{label}: HTTP {status} redirect refused (more than {max_redirects} redirects)"
                raise _logged(HttpError(message, retryable=False, status=status))
            following = _parse_url(str(current.url.join(response_headers["location"])), label=label)
            current_method, current_content, current_headers = _redirected(
                status,
                current,
                following,
                method=current_method,
                content=current_content,
                headers=current_headers,
                label=label,
            )
            if following.host != target.host:
                label = f"{method} {target.netloc}{path_template} (redirected to {following.netloc})"
            current, query = following, None  # the Location carries its own query
            continue
        if not 200 <= status < 300:
            # Not logged again: the line above has the status, and a 404 may be an answer the caller expects.
            raise HttpError(
                f"{label}: HTTP {status}",
                retryable=status in RETRYABLE_STATUSES,
                status=status,
                retry_after=_retry_after(response_headers.get("retry-after")),
            )
        return Response(status=status, headers=response_headers, content=body or b"")
    raise AssertionError("unreachable: the loop returns or raises")  # pragma: no cover


def request_json(
    method: str,
    url: str,
    *,
    json: Any = None,
    path_params: Mapping[str, str | int] | None = None,
    params: Mapping[str, str | int] | None = None,
    headers: Mapping[str, str] | None = None,
    timeout: Timeout | float | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_redirects: int = 0,
    allow_private: bool = False,
    allow: Collection[str] = (),
    ssl_context: ssl.SSLContext | None = None,
) -> JsonResponse:
    """:func:`request` for JSON APIs: ``json`` (when not None) is sent as the body, the answer is parsed.

    A 2xx answer that is not JSON is an :class:`HttpError` (not retryable): the API is not what the
    configuration says it is.
    """
    all_headers = {"Accept": "application/json", **(headers or {})}
    content = None
    if json is not None:
        try:
            content = jsonlib.dumps(json, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()
        except (TypeError, ValueError) as exc:
            raise ValueError(f"json body cannot be serialised: {type(exc).__name__}") from None
        all_headers.setdefault("Content-Type", "application/json")
    response = request(
        method,
        url,
        path_params=path_params,
        params=params,
        headers=all_headers,
        content=content,
        timeout=timeout,
        max_bytes=max_bytes,
        max_redirects=max_redirects,
        allow_private=allow_private,
        allow=allow,
        ssl_context=ssl_context,
    )
    if not response.content.strip():
        return JsonResponse(status=response.status, headers=response.headers, data=None)
    try:
        data = jsonlib.loads(response.content)
    except ValueError:
        label = _label(_check_method(method), url)
        raise _logged(
            HttpError(f"{label}: HTTP {response.status} answer is not JSON", retryable=False, status=response.status)
        ) from None
    return JsonResponse(status=response.status, headers=response.headers, data=data)


# ---------------------------------------------------------------- arguments


@dataclass(frozen=True)
class _Target:
    url: httpx.URL
    scheme: str
    host: str  # ASCII (IDNA) hostname or IP literal, lower-cased, without brackets
    port: int
    netloc: str  # host[:port] as the caller wrote it (port only when not the default), for labels

    @property
    def origin(self) -> tuple[str, str, int]:
        return (self.scheme, self.host, self.port)


def _check_method(method: str) -> str:
    if not isinstance(method, str) or method.upper() not in METHODS:
        raise ValueError(f"method must be one of {', '.join(sorted(METHODS))}.")
    return method.upper()


def _check_timeout(timeout: Timeout | float | None) -> Timeout:
    if timeout is None:
        return DEFAULT_TIMEOUT
    if isinstance(timeout, Timeout):
        return timeout
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not timeout > 0:
        raise ValueError("timeout must be a Timeout or a positive number of seconds.")
    seconds = float(timeout)
    return Timeout(connect=min(DEFAULT_TIMEOUT.connect, seconds), read=seconds, total=seconds)


def _check_headers(headers: Mapping[str, str] | None) -> dict[str, str]:
    checked: dict[str, str] = {}
    for name, value in (headers or {}).items():
        if not isinstance(name, str) or not isinstance(value, str):
            raise TypeError("header names and values must be strings.")
        if name.lower() in _FIXED_HEADERS:
            raise ValueError(f"the {name} header is set by c360.lib.http and cannot be given.")
        if any(char in value for char in "\r\n\0"):
            raise ValueError(f"the {name} header value holds a line break or NUL.")  # the value is not echoed
        checked[name] = value
    return checked


def _parse_allow(allow: Collection[str]) -> tuple[frozenset[str], tuple[IPNetwork, ...]]:
    if isinstance(allow, str):
        raise TypeError("allow must be a collection of hostnames and networks, not one string.")
    hosts: set[str] = set()
    networks: list[IPNetwork] = []
    for entry in allow:
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            host = _ascii_host(entry)
            if host is None:
                raise ValueError(f"allow entry {entry!r} is neither a hostname nor an IP network.") from None
            hosts.add(host)
    return frozenset(hosts), tuple(networks)


def _ascii_host(name: str) -> str | None:
    try:
        host = name.strip().lower().encode("idna").decode("ascii")
    except UnicodeError:
        return None
    return host.rstrip(".") if _HOSTNAME.match(host) else None


def _fill_template(url: str, path_params: Mapping[str, str | int]) -> tuple[str, str]:
    """Return (path template, URL with the path filled in). Placeholders may only appear in the path."""
    if not isinstance(url, str):
        raise TypeError("url must be a string.")
    parts = urlsplit(url)
    for piece in (parts.netloc, parts.query, parts.fragment):
        if "{" in piece or "}" in piece:
            raise ValueError("url placeholders may only appear in the path.")
    names = _PLACEHOLDER.findall(parts.path)
    for name in names:
        if not _NAME.match(name):
            raise ValueError(f"url path placeholder {{{name}}} is not a plain name.")
        if name not in path_params:
            raise ValueError(f"url path placeholder {{{name}}} has no value in path_params.")
    extra = set(path_params) - set(names)
    if extra:
        raise ValueError(f"path_params {', '.join(sorted(extra))} do not appear in the url path.")

    def fill(match: re.Match[str]) -> str:
        value = path_params[match.group(1)]
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise TypeError(f"path_params[{match.group(1)!r}] must be a string or an integer.")
        text = str(value)
        if text in {"", ".", ".."}:  # would empty or climb the path
            raise ValueError(f"path_params[{match.group(1)!r}] is empty or a dot segment.")
        return quote(text, safe="")

    filled_path = _PLACEHOLDER.sub(fill, parts.path)
    return parts.path or "/", parts._replace(path=filled_path).geturl()


def _label(method: str, url_template: str) -> str:
    """What messages and logs show of a call: method, host[:port] and path template, nothing else."""
    try:
        parts = urlsplit(url_template)
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return f"{method} <invalid url>"
    return f"{method} {parts.hostname or ''}{port}{parts.path or '/'}"


def _parse_url(url: str, *, label: str) -> _Target:
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError):
        raise _logged(HttpError(f"{label}: invalid URL", retryable=False)) from None
    if parsed.scheme not in {"http", "https"}:
        raise _logged(HttpError(f"{label}: only http and https URLs are allowed", retryable=False))
    if parsed.userinfo:
        raise _logged(
            HttpError(f"{label}: credentials in the URL are refused (send them in a header)", retryable=False)
        )
    host = parsed.raw_host.decode("ascii").lower().strip("[]")
    if not host:
        raise _logged(HttpError(f"{label}: the URL has no host", retryable=False))
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    shown_host = f"[{host}]" if ":" in host else host
    netloc = shown_host if parsed.port is None else f"{shown_host}:{parsed.port}"
    return _Target(url=parsed, scheme=parsed.scheme, host=host, port=port, netloc=netloc)


def _redirected(
    status: int,
    current: _Target,
    following: _Target,
    *,
    method: str,
    content: bytes | None,
    headers: dict[str, str],
    label: str,
) -> tuple[str, bytes | None, dict[str, str]]:
    """The method, body and headers of the request that follows a redirect (RFC 9110 15.4)."""
    if current.scheme == "https" and following.scheme != "https":
        raise _logged(HttpError(f"{label}: redirect from https to http refused", retryable=False))
    if following.origin != current.origin:
        # Credentials were meant for the origin the caller named: never hand them to another.
        headers = {name: value for name, value in headers.items() if name.lower() in _KEPT_ACROSS_ORIGINS}
    if status == 303 or (status in {301, 302} and method == "POST"):
        method = "HEAD" if method == "HEAD" else "GET"
        content = None
        headers = {name: value for name, value in headers.items() if name.lower() != "content-type"}
    return method, content, headers


# ---------------------------------------------------------------- SSRF guard


def _resolve(
    target: _Target,
    label: str,
    *,
    allow_private: bool,
    allowed_hosts: frozenset[str],
    allowed_networks: tuple[IPNetwork, ...],
) -> list[IPAddress]:
    """Resolve the host and return its addresses, all checked; refuse the call if any one is off-limits.

    Every address is checked, not only the first: a name that answers with one public and one private
    address would otherwise let the connect fall through to the private one.
    """
    try:
        infos = socket.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        # EAI_AGAIN is a resolver hiccup; a name that does not exist will not exist on the next try either.
        retryable = exc.errno == socket.EAI_AGAIN
        raise _logged(HttpError(f"{label}: could not resolve {target.host}", retryable=retryable)) from None
    addresses: list[IPAddress] = []
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])  # drop an IPv6 zone id
        if address not in addresses:
            addresses.append(address)
    if target.host.rstrip(".") in allowed_hosts:
        return addresses
    for address in addresses:
        refusal = _refusal(address, allow_private=allow_private, allowed_networks=allowed_networks)
        if refusal:
            raise _logged(
                HttpError(
                    f"{label}: destination refused: {target.host} resolves to {address}, {refusal}",
                    retryable=False,
                )
            )
    return addresses


def _refusal(address: IPAddress, *, allow_private: bool, allowed_networks: tuple[IPNetwork, ...]) -> str:
    """Why ``address`` may not be reached, or "" when it may."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # ::ffff:a.b.c.d is a.b.c.d on the wire
    candidates = [address]
    embedded = _embedded_ipv4(address)
    if embedded is not None:
        candidates.append(embedded)
    if any(candidate in network for candidate in candidates for network in allowed_networks):
        return ""
    reasons = (_category(candidate, allow_private=allow_private) for candidate in candidates)
    return next((reason for reason in reasons if reason), "")


def _category(address: IPAddress, *, allow_private: bool) -> str:
    if address in _METADATA:
        return "a cloud metadata address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_loopback:  # before is_reserved, which ::1 also is
        return "" if allow_private else "a loopback address (allow_private is off)"
    if address.is_unspecified or address.is_multicast or address.is_reserved:
        return "a non-routable address"
    if not address.is_global and not allow_private:
        return "a private address (allow_private is off)"
    return ""


def _embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address a 6to4 or Teredo address carries, which is where its packets really go."""
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    return None


# ---------------------------------------------------------------- the exchange


@cache
def _default_ssl_context() -> ssl.SSLContext:
    # certifi for the public CAs, plus the system store, where an on-premises CA is installed.
    context = ssl.create_default_context(cafile=certifi.where())
    context.load_default_certs()
    return context


def _exchange(
    method: str,
    target: _Target,
    addresses: list[IPAddress],
    *,
    label: str,
    params: Mapping[str, str | int] | None,
    headers: Mapping[str, str],
    content: bytes | None,
    limits: Timeout,
    deadline: float,
    max_bytes: int,
    ssl_context: ssl.SSLContext | None,
) -> tuple[int, dict[str, str], bytes | None]:
    """One request to one of the checked addresses; the body is read only for a 2xx answer."""
    host_header = target.netloc
    last_error: httpx.TransportError | None = None
    for address in addresses:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        pinned = target.url.copy_with(host=str(address))
        extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
        client = httpx.Client(
            verify=ssl_context or _default_ssl_context(),
            trust_env=False,  # no proxy or .netrc from the environment: both would bypass the checks above
            follow_redirects=False,
            timeout=httpx.Timeout(
                connect=min(limits.connect, remaining),
                read=min(limits.read, remaining),
                write=min(limits.read, remaining),
                pool=min(limits.connect, remaining),
            ),
        )
        try:
            with client:
                outgoing = client.build_request(
                    method,
                    pinned,
                    params=params,
                    content=content,
                    headers={**headers, "Host": host_header, "User-Agent": USER_AGENT},
                    extensions=extensions,
                )
                response = client.send(outgoing, stream=True)
                try:
                    response_headers = {name.lower(): value for name, value in response.headers.items()}
                    if not 200 <= response.status_code < 300 or method == "HEAD":
                        return response.status_code, response_headers, None
                    body = _read_capped(response, label=label, deadline=deadline, max_bytes=max_bytes)
                    return response.status_code, response_headers, body
                finally:
                    response.close()
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            if _is_tls_failure(exc):
                raise _logged(
                    HttpError(f"{label}: TLS handshake or certificate check failed", retryable=False)
                ) from None
            last_error = exc  # another address of the same host may answer
        except httpx.HTTPError as exc:
            raise _transport_error(exc, label, deadline=deadline) from None
    if last_error is None:
        raise _logged(HttpError(f"{label}: timed out (total)", retryable=True))
    raise _transport_error(last_error, label, deadline=deadline) from None


def _read_capped(response: httpx.Response, *, label: str, deadline: float, max_bytes: int) -> bytes:
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise _logged(
            HttpError(f"{label}: HTTP {response.status_code} answer is larger than {max_bytes} bytes", retryable=False)
        )
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > max_bytes:
            raise _logged(
                HttpError(
                    f"{label}: HTTP {response.status_code} answer is larger than {max_bytes} bytes", retryable=False
                )
            )
        if time.monotonic() > deadline:
            raise _logged(HttpError(f"{label}: timed out (total)", retryable=True))
        chunks.append(chunk)
    return b"".join(chunks)


def _is_tls_failure(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLError | ssl.CertificateError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _transport_error(exc: httpx.HTTPError, label: str, *, deadline: float) -> HttpError:
    """Map an httpx failure to an HttpError; httpx's own text is left out, it may quote the URL."""
    if isinstance(exc, httpx.TimeoutException):
        if time.monotonic() >= deadline - 0.01:  # the per-read limit was cut down to what the total had left
            return _logged(HttpError(f"{label}: timed out (total)", retryable=True))
        phase = {
            httpx.ConnectTimeout: "connect",
            httpx.ReadTimeout: "read",
            httpx.WriteTimeout: "write",
            httpx.PoolTimeout: "pool",
        }.get(type(exc), "")
        return _logged(HttpError(f"{label}: timed out ({phase or 'network'})", retryable=True))
    if isinstance(exc, httpx.ConnectError):
        return _logged(HttpError(f"{label}: could not connect", retryable=True))
    if isinstance(exc, httpx.NetworkError | httpx.RemoteProtocolError):
        return _logged(HttpError(f"{label}: connection lost ({type(exc).__name__})", retryable=True))
    return _logged(HttpError(f"{label}: request failed ({type(exc).__name__})", retryable=False))


def _retry_after(value: str | None) -> float | None:
    """Retry-After as seconds from now: either delta-seconds or an HTTP date (RFC 9110 10.2.3)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(int(value))
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, (when - dt.datetime.now(dt.UTC)).total_seconds())


def _logged(error: HttpError) -> HttpError:
    logger.warning("http %s", error.message)
    return error
