"""Argon2id password hashing and the password rules."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app

from ..i18n import gettext as _

MIN_LENGTH = 10
MAX_LENGTH = 128
COMMON = {
    "wachtwoord", "wachtwoord1", "wachtwoord123", "password", "password1", "password123",
    "1234567890", "12345678910", "qwertyuiop", "welkom1234", "welkomwelkom", "bibliotheek",
    "kinderopvang", "stappenplan", "0123456789", "aaaaaaaaaa",
}


def _hasher() -> PasswordHasher:
    cfg = current_app.config
    return PasswordHasher(
        time_cost=cfg["ARGON2_TIME_COST"],
        memory_cost=cfg["ARGON2_MEMORY_COST"],
        parallelism=cfg["ARGON2_PARALLELISM"],
    )


def hash_password(password: str) -> str:
    return _hasher().hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher().verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """True for a hash made with other Argon2 settings than the configured ones."""
    try:
        return _hasher().check_needs_rehash(password_hash)
    except (InvalidHashError, ValueError):
        return True


def dummy_verify() -> None:
    """Spend the same time as a real check, so timing does not reveal unknown emails."""
    verify_password(hash_password("timing-equaliser"), "x")


def password_problem(password: str, email: str = "") -> str | None:
    """A Dutch explanation of why a password is too weak, or None."""
    if len(password) < MIN_LENGTH:
        return _("Kies een wachtwoord van minstens %(n)d tekens.", n=MIN_LENGTH)
    if len(password) > MAX_LENGTH:
        return _("Een wachtwoord mag maximaal %(n)d tekens hebben.", n=MAX_LENGTH)
    lowered = password.lower()
    if lowered in COMMON or len(set(lowered)) < 4:
        return _("Dit wachtwoord is te makkelijk te raden. Kies een ander wachtwoord.")
    if email and lowered == email.lower():
        return _("Je wachtwoord mag niet gelijk zijn aan je e-mailadres.")
    return None
