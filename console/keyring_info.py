"""The keyring as people read about it: which keyring is in use (``BackendInfo``, its label and remedy in the
operator's language), the ways out when none can hold secrets, the secret kinds in words, and the passphrase
rule of a new encrypted keyring. UI-free; ``console.credentials`` uses it and re-exports its names."""

from __future__ import annotations

from dataclasses import dataclass

from console.i18n import N_, _

#: the ways out when no keyring can hold secrets (marked for translation: shown with ``_(WAYS_OUT)``)
WAYS_OUT = N_(
    "Use a desktop keyring (Secret Service/GNOME Keyring, KWallet, macOS Keychain or Windows Credential Manager); "
    "on a headless server set SCIM_CONSOLE_KEYRING=cryptfile and give a passphrase in "
    "SCIM_CONSOLE_KEYRING_PASSPHRASE (or at the hidden prompt) to keep secrets in an encrypted file; "
    "or set SCIM_CONSOLE_KEYRING=session to keep them in memory only until the console stops."
)
#: the secret kinds in words
_KIND_WORDS = {"api_key": N_("API key"), "access_token": N_("access token"),
               "graph_client_secret": N_("Graph client secret"), "notify_urls": N_("notification URLs")}


def kind_words(kind: str) -> str:
    """A secret kind (``api_key``, ...) in words, in the current language."""
    return _(_KIND_WORDS[kind]) if kind in _KIND_WORDS else kind


MIN_PASSPHRASE_LENGTH = 12
MIN_PASSPHRASE_WORDS = 4
#: the rule in English (``passphrase_rule()`` words it in the operator's language)
PASSPHRASE_RULE = (f"at least {MIN_PASSPHRASE_LENGTH} characters, or {MIN_PASSPHRASE_WORDS} or more words "
                   "separated by spaces (e.g. four unrelated words)")


def passphrase_rule() -> str:
    """What a new keyring's passphrase must be, in the current language."""
    return _("at least {length} characters, or {words} or more words separated by spaces (e.g. four unrelated "
             "words)").format(length=MIN_PASSPHRASE_LENGTH, words=MIN_PASSPHRASE_WORDS)


def passphrase_problem(passphrase: str) -> str | None:
    """Why ``passphrase`` is too weak for a new encrypted keyring, or None when it is acceptable.

    The rule: at least 12 characters, or a passphrase of four or more words (of two letters or more); in both
    cases at least five different characters (``aaaaaaaaaaaa`` is refused). Checked only when a keyring is
    created: an existing keyring opens with whatever passphrase it was created with."""
    text = passphrase or ""
    if not text.strip():
        return _("The passphrase is empty.")
    words = [w for w in text.split() if len(w) >= 2]
    if len(text) < MIN_PASSPHRASE_LENGTH and len(words) < MIN_PASSPHRASE_WORDS:
        return _("The passphrase is too short ({n} characters).").format(n=len(text))
    if len(set(text)) < 5:
        return _("The passphrase uses too few different characters.")
    return None


def passphrase_remedy() -> str:
    return _("Choose a passphrase of {rule}; nothing was created.").format(rule=passphrase_rule())


@dataclass(frozen=True)
class BackendInfo:
    """The keyring in use. ``label`` and ``remedy`` are read in the current language: the English texts are kept
    (``label_text``, ``remedy_text``, marked with ``N_``) with the ``values`` formatted into them, because one
    credential store serves every operator of the app, whatever language each reads."""

    name: str  # e.g. "keyring.backends.SecretService.Keyring"
    secure: bool  # False: the console refuses to store secrets there
    label_text: str  # one line for people, e.g. "Encrypted file keyring ({path})"
    remedy_text: str = ""  # what to do when not secure / not usable
    mode: str = ""  # the SCIM_CONSOLE_KEYRING mode that chose it
    persistent: bool = True  # False for session/memory: secrets vanish when the process ends
    locked: bool = False  # an encrypted file keyring still waiting for its passphrase
    values: tuple[tuple[str, str], ...] = ()  # what fills the texts' placeholders (paths, names)

    @property
    def label(self) -> str:
        """One line for people, e.g. "Encrypted file keyring (~/.local/share/python_keyring/...)"."""
        return _filled(self.label_text, self.values)

    @property
    def remedy(self) -> str:
        """What to do when not secure / not usable."""
        return _filled(self.remedy_text, self.values)


def _filled(text: str, values: tuple[tuple[str, str], ...]) -> str:
    translated = _(text) if text else ""
    if not values:
        return translated
    for template in (translated, text):
        try:
            return template.format(**dict(values))
        except (KeyError, IndexError, ValueError):
            continue
    return text
