"""URL normalisation, so the same page saved twice is recognised as one bookmark, and the
checks that refuse at save an address no browser could open."""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

# Parameters that only say where a click came from; they never change the page.
TRACKING_PARAMS = {
    "fbclid", "gclid", "gclsrc", "dclid", "gbraid", "wbraid", "msclkid", "yclid", "twclid",
    "ttclid", "li_fat_id", "igshid", "mc_cid", "mc_eid", "_hsenc", "_hsmi", "__hssc",
    "__hstc", "__hsfp", "hsctatracking", "mkt_tok", "oly_anon_id", "oly_enc_id", "vero_id",
    "vero_conv", "_ga", "_gl", "spm", "scm", "s_cid", "wickedid", "rb_clickid", "ref_src",
    "ref_url", "cmpid", "icid", "sr_share", "si", "trk", "trkcampaign",
}  # fmt: skip
TRACKING_PREFIXES = ("utm_", "pk_", "mtm_", "hmb_", "ga_", "matomo_", "_bta_")
DEFAULT_PORTS = {"http": 80, "https": 443}
_ESCAPE = re.compile(r"%([0-9A-Fa-f]{2})")
_UNRESERVED_CHARS = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
# A DNS label in ASCII: letters, digits, hyphens (not at either end); underscores are not
# valid in host names but real ones have them (`my_site.example.com`), and browsers open them.
_LABEL = re.compile(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)$")


class InvalidUrl(ValueError):
    pass


# An uploaded file's address: `upload://<sha256 of its bytes>/<its name>`. The bookmark's
# normalized URL is `upload://<sha256>`, so the same file uploaded again (under any name) is
# recognised as one bookmark, as the same page saved twice is. Never fetched.
UPLOAD_SCHEME = "upload://"


def is_upload(url: str) -> bool:
    return url.startswith(UPLOAD_SCHEME)


def upload_urls(sha256: str, filename: str) -> tuple[str, str]:
    """(url, normalized_url) of an uploaded file."""
    name = quote(filename[:200], safe="")
    return f"{UPLOAD_SCHEME}{sha256}/{name}", f"{UPLOAD_SCHEME}{sha256}"


def _normalise_escapes(part: str) -> str:
    """Decode escapes of unreserved characters, upper-case the others, escape raw non-ASCII."""

    def fix(m: re.Match[str]) -> str:
        char = chr(int(m.group(1), 16))
        return char if char in _UNRESERVED_CHARS else f"%{m.group(1).upper()}"

    return quote(_ESCAPE.sub(fix, part), safe="/%:@!$&'()*+,;=~-._")


def _is_tracking(key: str) -> bool:
    k = key.lower()
    return k in TRACKING_PARAMS or k.startswith(TRACKING_PREFIXES)


def _ascii_host(host: str) -> str:
    """The host as it goes on the wire (IDNA, lower case, bracketed when IPv6), or InvalidUrl
    for one that cannot name a server: spaces, empty or over-long labels, `xn--` labels that
    do not decode, a numeric name that is not an IPv4 address."""
    if ":" in host:
        try:
            address = ipaddress.IPv6Address(host)
        except ValueError as exc:
            raise InvalidUrl("The IPv6 address is not valid.") from exc
        if address.scope_id:  # fe80::1%eth0 names an interface of the saving machine
            raise InvalidUrl("The IPv6 address is not valid.")
        return f"[{host.lower()}]"
    try:
        ascii_host = host.encode("idna").decode("ascii").lower()
    except UnicodeError as exc:
        raise InvalidUrl("The host name is not valid.") from exc
    labels = ascii_host.split(".")
    if len(ascii_host) > 253 or not all(_LABEL.match(label) for label in labels):
        raise InvalidUrl("The host name is not valid.")
    for label in labels:
        if label.startswith("xn--"):
            try:
                label.encode("ascii").decode("idna")
            except UnicodeError as exc:
                raise InvalidUrl("The host name is not valid.") from exc
    if labels[-1].isdigit():  # what browsers read as an IPv4 address
        try:
            ipaddress.IPv4Address(ascii_host)
        except ValueError as exc:
            raise InvalidUrl("The IPv4 address is not valid.") from exc
    return ascii_host


def normalize_url(url: str) -> str:
    raw = url.strip()
    if not raw.isascii():
        try:
            raw.encode("utf-8")
        except UnicodeEncodeError as exc:  # a lone surrogate
            raise InvalidUrl("The address is not valid text.") from exc
    if "://" not in raw:
        raw = "https://" + raw
    try:
        parts = urlsplit(raw)
        port = parts.port
    except ValueError as exc:  # an unclosed "[", a port that is not a number in 0-65535
        raise InvalidUrl("The address is not valid.") from exc
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise InvalidUrl("Only http and https addresses can be saved.")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise InvalidUrl("The address has no host.")
    if parts.username or parts.password:
        raise InvalidUrl("Addresses with a user name or password cannot be saved.")
    host = _ascii_host(host)
    if port == 0:
        raise InvalidUrl("The port is not valid.")
    netloc = host if port in (None, DEFAULT_PORTS[scheme]) else f"{host}:{port}"

    path = _normalise_escapes(parts.path or "/")
    if len(path) > 1:
        path = path.rstrip("/")

    query_pairs = [
        (k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not _is_tracking(k)
    ]
    query = urlencode(sorted(query_pairs), doseq=True)
    return urlunsplit((scheme, netloc, path, query, ""))
