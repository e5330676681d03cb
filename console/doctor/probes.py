"""The permission probes' words in the current language. ``scim_client`` (a library that knows no languages)
words each request and result in English; the ones it is known to use are translated here, anything else (an
error message from the server, a new wording) is shown as it came."""

from __future__ import annotations

import re

from console.i18n import N_, _, pgettext
from scim_client.permissions import FullProbe, PermissionCheck

# scim_client.permissions' fixed request words -> the same marked for translation
REQUESTS: dict[str, str] = {
    "GET Users (one user)": N_("GET Users (one user)"),
    "POST Users without a userName": N_("POST Users without a userName"),
    "PATCH a user id that does not exist": N_("PATCH a user id that does not exist"),
    "DELETE a user id that does not exist": N_("DELETE a user id that does not exist"),
    "POST Groups without a displayName": N_("POST Groups without a displayName"),
    "PATCH members of a group id that does not exist": N_("PATCH members of a group id that does not exist"),
    "change the probe user's given name": N_("change the probe user's given name"),
    "add the probe user to the probe group and remove them again":
        N_("add the probe user to the probe group and remove them again"),
    "delete the probe group": N_("delete the probe group"),
    "delete the probe user": N_("delete the probe user"),
    "not tried": N_("not tried"),
}
MESSAGES: dict[str, str] = {
    "reading users works": N_("reading users works"),
    "done": N_("done"),
    "an earlier step failed, so this one could not be tried": N_("an earlier step failed, so this one could not be "
                                                                 "tried"),
}
_ACCEPTED_TOKEN = re.compile(r"the SCIM service at (\S+) accepted the token")
_GRANTED = re.compile(r"answered (\d{3}): permitted callers are refused for the request itself \(this relies on the "
                      r"server checking permission before the request's content\)")
_ACCEPTED = re.compile(r"the server accepted it \((\d{3})\) where it should have refused the request itself(.*)",
                       re.DOTALL)
_DELETED = re.compile(r"; what it created \((user|group) (.+)\) was deleted again", re.DOTALL)
_NOT_DELETED = re.compile(r"; it created (user|group) (.+?), which could not be deleted \((.*)\): delete it by hand",
                          re.DOTALL)


def request_words(check: PermissionCheck, probe: FullProbe | None = None) -> str:
    """What was sent, in words (``probe``: the full probe it belongs to, whose names its steps quote)."""
    if check.request in REQUESTS:
        return _(REQUESTS[check.request])
    if probe is not None and probe.probe_user and check.request == f"create the inactive probe user {probe.probe_user}":
        return _("create the inactive probe user {user}").format(user=probe.probe_user)
    if probe is not None and probe.probe_group and check.request == f"create the probe group {probe.probe_group!r}":
        return _("create the probe group {group}").format(group=repr(probe.probe_group))
    return check.request


def verdict_words(check: PermissionCheck) -> str:
    return {"granted": pgettext("permission", "granted"), "missing": pgettext("permission", "missing"),
            "unclear": pgettext("permission", "unclear")}.get(check.verdict, check.verdict)


def result_words(check: PermissionCheck) -> str:
    """What the answer means, in words."""
    message = check.message
    if message in MESSAGES:
        return _(MESSAGES[message])
    if found := _ACCEPTED_TOKEN.fullmatch(message):
        return _("the SCIM service at {url} accepted the token").format(url=found.group(1))
    if found := _GRANTED.fullmatch(message):
        return _("answered {status}: permitted callers are refused for the request itself (this relies on the server "
                 "checking permission before the request's content)").format(status=found.group(1))
    if found := _ACCEPTED.fullmatch(message):
        text = _("the server accepted it ({status}) where it should have refused the request itself").format(
            status=found.group(1))
        rest = found.group(2)
        if deleted := _DELETED.fullmatch(rest):
            kind, rid = deleted.groups()
            return text + (_("; what it created (user {id}) was deleted again") if kind == "user"
                           else _("; what it created (group {id}) was deleted again")).format(id=rid)
        if kept := _NOT_DELETED.fullmatch(rest):
            kind, rid, error = kept.groups()
            return text + (_("; it created user {id}, which could not be deleted ({error}): delete it by hand")
                           if kind == "user" else
                           _("; it created group {id}, which could not be deleted ({error}): delete it by hand")
                           ).format(id=rid, error=error)
        return text + rest
    return message
