"""c360.lib.identifiers on its own: every normaliser is canonical, idempotent and PII-free in its errors.

No database: the normalisers are pure functions of the value (and of C360_DEFAULT_PHONE_REGION, BR in tests).
Check digits are computed here with an independent implementation, not with validate-docbr.
"""

from __future__ import annotations

import inspect
import re
import unicodedata
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import email_validator.syntax
import idna
import idna.core
import phonenumbers
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from c360.lib import identifiers
from c360.lib.identifiers import (
    MAX_EXTERNAL_ID_LENGTH,
    IdentifierError,
    IdentifierKind,
    mask,
    normalise,
    normalise_cnpj,
    normalise_cpf,
    normalise_email,
    normalise_external,
    normalise_phone,
)

PROPERTY = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
E164 = re.compile(r"^\+[1-9]\d{1,14}$")

NORMALISERS = {
    IdentifierKind.EMAIL: normalise_email,
    IdentifierKind.PHONE: normalise_phone,
    IdentifierKind.CPF: normalise_cpf,
    IdentifierKind.CNPJ: normalise_cnpj,
    IdentifierKind.EXTERNAL: normalise_external,
}


@contextmanager
def raises_identifier_error(kind: IdentifierKind, code: str) -> Iterator[pytest.ExceptionInfo[IdentifierError]]:
    """``pytest.raises`` for an IdentifierError, then checks its kind and code."""
    with pytest.raises(IdentifierError) as info:
        yield info
    assert info.value.kind is kind
    assert info.value.code == code


def outcome(normaliser: Callable[[object], str], value: object) -> tuple[str | None, IdentifierError | None]:
    """(normalised value, None) or (None, the IdentifierError raised)."""
    try:
        return normaliser(value), None
    except IdentifierError as exc:
        return None, exc


# ---------------------------------------------------------------- independent check digits


def cpf_check_digits(first_nine: str) -> str:
    """The two CPF check digits (mod 11, weights 10..2 then 11..2)."""
    digits = [int(char) for char in first_nine]
    for _ in range(2):
        weights = range(len(digits) + 1, 1, -1)
        remainder = sum(d * w for d, w in zip(digits, weights, strict=True)) % 11
        digits.append(0 if remainder < 2 else 11 - remainder)
    return "".join(str(d) for d in digits[-2:])


CNPJ_WEIGHTS_1 = (5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2)
CNPJ_WEIGHTS_2 = (6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2)


def cnpj_check_digits(first_twelve: str) -> str:
    """The two CNPJ check digits; each character is worth ``ord(c) - 48`` (so digits are themselves, A is 17)."""
    values = [ord(char) - 48 for char in first_twelve]
    for weights in (CNPJ_WEIGHTS_1, CNPJ_WEIGHTS_2):
        remainder = sum(v * w for v, w in zip(values, weights, strict=True)) % 11
        values.append(0 if remainder < 2 else 11 - remainder)
    return f"{values[-2]}{values[-1]}"


def other_digit(digit: str, shift: int) -> str:
    return str((int(digit) + shift) % 10)


def test_own_check_digit_functions_agree_with_published_examples():
    # Given well-known valid documents, when the check digits are recomputed, then they match.
    assert cpf_check_digits("123456789") == "09"
    assert cpf_check_digits("529982247") == "25"
    assert cnpj_check_digits("112223330001") == "81"
    assert cnpj_check_digits("12ABC34501DE") == "35"


# ---------------------------------------------------------------- strategies

_SPACE = st.sampled_from(["", " ", "  ", "\t", "\n", " \t "])

# email-validator refuses special-use names (RFC 6761 and friends) even when the syntax is fine.
_SPECIAL_USE_TLDS = {"arpa", "invalid", "local", "localhost", "onion", "test", "example", "alt", "home", "lan"}


def _usable_email(address: str) -> bool:
    return address.rpartition(".")[2].lower() not in _SPECIAL_USE_TLDS


@st.composite
def messy_emails(draw: st.DrawFn) -> tuple[str, str]:
    """(a spelling with random upper case and surrounding whitespace, the address it spells)."""
    address = draw(st.emails().filter(_usable_email))
    upper = draw(st.lists(st.booleans(), min_size=len(address), max_size=len(address)))
    spelled = "".join(char.upper() if flip else char for char, flip in zip(address, upper, strict=True))
    return draw(_SPACE) + spelled + draw(_SPACE), address


PHONE_REGIONS = ["BR", "PT", "ES", "DE", "FR", "US", "GB", "AR", "MX", "IT"]
PHONE_TYPES = [phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE]
PHONE_EXAMPLES = [
    (region, phonenumbers.example_number_for_type(region, number_type))
    for region in PHONE_REGIONS
    for number_type in PHONE_TYPES
]
_PHONE_SEPARATORS = st.sampled_from(["", "", "", " ", "-", ".", "  ", " - "])


@st.composite
def phone_spellings(draw: st.DrawFn) -> tuple[str, str]:
    """(an E.164, international or - for BR, the default region - national spelling, its E.164)."""
    region, number = draw(st.sampled_from(PHONE_EXAMPLES))
    formats = [phonenumbers.PhoneNumberFormat.E164, phonenumbers.PhoneNumberFormat.INTERNATIONAL]
    if region == "BR":
        formats.append(phonenumbers.PhoneNumberFormat.NATIONAL)
    base = phonenumbers.format_number(number, draw(st.sampled_from(formats)))
    # Punctuation may go between any two digits; never after the plus or inside existing punctuation.
    spelled = []
    for position, char in enumerate(base):
        spelled.append(char)
        if char.isdigit() and position + 1 < len(base) and base[position + 1].isdigit():
            spelled.append(draw(_PHONE_SEPARATORS))
    text = draw(_SPACE) + "".join(spelled) + draw(_SPACE)
    return text, phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


_NINE_DIGITS = st.text(alphabet="0123456789", min_size=9, max_size=9).filter(lambda d: len(set(d)) > 1)
valid_cpfs = _NINE_DIGITS.map(lambda nine: nine + cpf_check_digits(nine))
_TWELVE_DIGITS = st.text(alphabet="0123456789", min_size=12, max_size=12).filter(lambda d: len(set(d)) > 1)
valid_numeric_cnpjs = _TWELVE_DIGITS.map(lambda twelve: twelve + cnpj_check_digits(twelve))
_TWELVE_ALNUM = st.text(alphabet="0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=12, max_size=12).filter(
    lambda d: len(set(d)) > 1
)
valid_alphanumeric_cnpjs = _TWELVE_ALNUM.map(lambda twelve: twelve + cnpj_check_digits(twelve))


def cpf_masked(cpf: str) -> str:
    return f"{cpf[:3]}.{cpf[3:6]}.{cpf[6:9]}-{cpf[9:]}"


def cnpj_masked(cnpj: str) -> str:
    return f"{cnpj[:2]}.{cnpj[2:5]}.{cnpj[5:8]}/{cnpj[8:12]}-{cnpj[12:]}"


# ---------------------------------------------------------------- email


@PROPERTY
@given(messy_emails())
def test_email_is_lower_case_ascii_domain_and_idempotent(spelling_and_address):
    # Given an address spelled with random capitals and whitespace around it
    spelled, address = spelling_and_address
    local, _, domain = address.rpartition("@")

    # When it is normalised
    normalised = normalise_email(spelled)

    # Then the local part is lower-cased, the domain is lower-case ASCII, and a second pass changes nothing
    assert normalised == f"{local.lower()}@{domain.lower()}"
    assert normalised.rpartition("@")[2].isascii()
    assert normalise_email(normalised) == normalised


def test_email_with_internationalised_domain_gets_an_idna_domain_and_keeps_a_unicode_local_part():
    expected_domain = idna.encode("exemplo.açaí.com.br").decode("ascii")
    assert expected_domain == "exemplo.xn--aa-4iaz.com.br"

    normalised = normalise_email("  José.Silva@Exemplo.Açaí.com.br ")

    assert normalised == f"josé.silva@{expected_domain}"
    assert normalise_email(normalised) == normalised


def test_email_spellings_of_one_address_meet():
    spellings = ["maria.silva@gmail.com", " Maria.Silva@GMAIL.COM", "MARIA.SILVA@Gmail.Com\n", "maria.silva @gmail.com"]

    assert {normalise_email(spelling) for spelling in spellings} == {"maria.silva@gmail.com"}


def test_email_decomposed_unicode_is_composed():
    # "é" as e + combining acute accent (NFD) and as one code point (NFC) are the same address.
    assert normalise_email("Jose\u0301@exemplo.com") == normalise_email("Jos\u00e9@exemplo.com") == "josé@exemplo.com"


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("", "required"),
        ("   ", "required"),
        ("\t\n", "required"),
        ("no-at-sign", "invalid"),
        ("a@b", "invalid"),
        ("a@@b.com", "invalid"),
        ("@gmail.com", "invalid"),
        ("maria@", "invalid"),
        ("maria..silva@gmail.com", "invalid"),
        ("maria@gmail..com", "invalid"),
        ("maria@localhost", "invalid"),
        ("x" * 311 + "@gmail.com", "too_long"),
    ],
)
def test_email_broken_values_raise_with_a_stable_code(value, code):
    with raises_identifier_error(IdentifierKind.EMAIL, code) as info:
        normalise_email(value)

    assert info.value.message == str(info.value)
    assert info.value.message


@PROPERTY
@given(st.text())
def test_email_on_arbitrary_text_raises_or_is_idempotent(value):
    normalised, error = outcome(normalise_email, value)

    if error is not None:
        assert error.kind is IdentifierKind.EMAIL
        assert error.code
    else:
        assert "@" in normalised
        assert normalise_email(normalised) == normalised


@pytest.mark.parametrize(
    "value",
    [
        "maria@sub.joão-silva·x.com.br",
        "Maria@Sub.JOÃO-SILVA·X.com.br",
        "maria@mariasilva·online.com.br",
    ],
)
def test_email_errors_do_not_quote_a_label_of_the_domain(value):
    # Given a domain whose IDNA encoding fails in one label (the idna package quotes the offending label)
    with raises_identifier_error(IdentifierKind.EMAIL, "invalid") as info:
        normalise_email(value)

    # Then neither the label nor the name in it reaches the message, whatever its case
    message = info.value.message.casefold()
    assert "silva" not in message
    assert "joão" not in message
    assert "maria" not in message


# ---------------------------------------------------------------- phone


@PROPERTY
@given(phone_spellings())
def test_phone_spellings_of_example_numbers_normalise_to_their_e164(spelling_and_e164):
    spelled, e164 = spelling_and_e164

    normalised = normalise_phone(spelled)

    assert normalised == e164
    assert normalise_phone(normalised) == normalised


@pytest.mark.parametrize(("region", "number"), PHONE_EXAMPLES, ids=str)
def test_phone_every_example_number_is_valid_in_e164(region, number):
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)

    assert normalise_phone(e164) == e164
    assert normalise_phone(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)) == e164
    # A national spelling is read in the region passed in.
    national = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
    assert normalise_phone(national, region=region) == e164


@pytest.mark.parametrize(
    "value",
    [
        "(11) 98765-4321",
        "+55 11 98765-4321",
        "11987654321",
        "011 98765-4321",
        "+55 (11) 9 8765-4321",
        "+5511987654321",
        "  11 98765 4321  ",
        "11.98765.4321",
    ],
)
def test_phone_brazilian_messy_forms_meet(value):
    assert normalise_phone(value) == "+5511987654321"


def test_phone_national_number_of_another_country_needs_its_region():
    # Given a Portuguese mobile written nationally
    national = "912 345 678"

    # When read in the default region (BR) it is not a valid number; read in PT it is
    with raises_identifier_error(IdentifierKind.PHONE, "invalid") as info:
        normalise_phone(national)
    assert "BR" in info.value.message
    assert normalise_phone(national, region="PT") == "+351912345678"
    # A number with its country code ignores the region.
    assert normalise_phone("+55 11 98765-4321", region="PT") == "+5511987654321"


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("", "required"),
        ("  ", "required"),
        ("abc", "unparseable"),
        ("+", "unparseable"),
        ("12345", "invalid"),
        ("+55 11 1234", "invalid"),
        ("+999 1234 5678", "unparseable"),
    ],
)
def test_phone_broken_values_raise_with_a_stable_code(value, code):
    with raises_identifier_error(IdentifierKind.PHONE, code):
        normalise_phone(value)


def _assert_phone_result_or_error(value: str) -> None:
    normalised, error = outcome(normalise_phone, value)

    if error is not None:
        assert error.kind is IdentifierKind.PHONE
        assert error.code in {"required", "unparseable", "invalid"}
    else:
        assert E164.match(normalised), normalised
        assert phonenumbers.is_valid_number(phonenumbers.parse(normalised))
        assert normalise_phone(normalised) == normalised


@PROPERTY
@given(st.text())
def test_phone_on_arbitrary_text_raises_or_is_valid_e164(value):
    _assert_phone_result_or_error(value)


@PROPERTY
@given(st.from_regex(r"\+?[0-9 ()\-.]{0,20}", fullmatch=True))
def test_phone_on_phone_like_text_raises_or_is_valid_e164(value):
    _assert_phone_result_or_error(value)


# ---------------------------------------------------------------- CPF


@PROPERTY
@given(valid_cpfs, st.sampled_from(["plain", "masked", "spaced", "padded"]))
def test_cpf_valid_in_any_spelling_normalises_to_eleven_digits(cpf, spelling):
    text = {
        "plain": cpf,
        "masked": cpf_masked(cpf),
        "spaced": f"{cpf[:3]} {cpf[3:6]} {cpf[6:9]} {cpf[9:]}",
        "padded": f"  {cpf_masked(cpf)}\n",
    }[spelling]

    normalised = normalise_cpf(text)

    assert normalised == cpf
    assert normalise_cpf(normalised) == normalised


@PROPERTY
@given(valid_cpfs, st.sampled_from([9, 10]), st.integers(min_value=1, max_value=9))
def test_cpf_with_a_changed_check_digit_is_refused(cpf, position, shift):
    tampered = cpf[:position] + other_digit(cpf[position], shift) + cpf[position + 1 :]

    with raises_identifier_error(IdentifierKind.CPF, "check_digits"):
        normalise_cpf(cpf_masked(tampered))


@PROPERTY
@given(st.text(alphabet="0123456789", min_size=7, max_size=8))
def test_cpf_stored_as_a_number_gets_its_leading_zeros_back(tail):
    # Given a CPF starting with one or two zeros, as a spreadsheet shows it once stored as a number
    nine = tail.rjust(9, "0")
    assume(len(set(nine)) > 1)
    cpf = nine + cpf_check_digits(nine)
    as_number = str(int(cpf))
    assume(9 <= len(as_number) < 11)

    # Then the zeros are restored
    assert normalise_cpf(as_number) == cpf


def test_cpf_known_examples():
    assert normalise_cpf("123.456.789-09") == "12345678909"
    assert normalise_cpf("012.345.678-90") == "01234567890"
    assert normalise_cpf("1234567890") == "01234567890"  # the spreadsheet lost the leading zero


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("", "required"),
        ("111.111.111-11", "check_digits"),
        ("00000000000", "check_digits"),
        ("99999999999", "check_digits"),
        ("123.456.789-00", "check_digits"),
        ("123.456.789-0a", "invalid"),
        ("abc.def.ghi-jk", "invalid"),
        ("123/456/789-09", "invalid"),
        ("\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668\u0669\u0660\u0669", "invalid"),  # Arabic-Indic digits
        ("123456789091", "length"),
        ("12345678", "length"),
    ],
)
def test_cpf_broken_values_raise_with_a_stable_code(value, code):
    with raises_identifier_error(IdentifierKind.CPF, code):
        normalise_cpf(value)


# ---------------------------------------------------------------- CNPJ


@PROPERTY
@given(st.one_of(valid_numeric_cnpjs, valid_alphanumeric_cnpjs), st.booleans(), st.booleans())
def test_cnpj_valid_masked_or_not_normalises_to_fourteen_characters(cnpj, masked, lower):
    text = cnpj_masked(cnpj) if masked else cnpj
    if lower:
        text = text.lower()

    normalised = normalise_cnpj(f" {text} ")

    assert normalised == cnpj
    assert normalise_cnpj(normalised) == normalised


@PROPERTY
@given(st.one_of(valid_numeric_cnpjs, valid_alphanumeric_cnpjs), st.sampled_from([12, 13]), st.integers(1, 9))
def test_cnpj_with_a_changed_check_digit_is_refused(cnpj, position, shift):
    tampered = cnpj[:position] + other_digit(cnpj[position], shift) + cnpj[position + 1 :]

    with raises_identifier_error(IdentifierKind.CNPJ, "check_digits"):
        normalise_cnpj(cnpj_masked(tampered))


@PROPERTY
@given(st.text(alphabet="0123456789", min_size=10, max_size=11))
def test_cnpj_stored_as_a_number_gets_its_leading_zeros_back(tail):
    twelve = tail.rjust(12, "0")
    assume(len(set(twelve)) > 1)
    cnpj = twelve + cnpj_check_digits(twelve)
    as_number = str(int(cnpj))
    assume(12 <= len(as_number) < 14)

    assert normalise_cnpj(as_number) == cnpj


def test_cnpj_official_alphanumeric_example():
    assert cnpj_check_digits("12ABC34501DE") == "35"

    assert normalise_cnpj("12.ABC.345/01DE-35") == "12ABC34501DE35"
    assert normalise_cnpj("12abc34501de35") == "12ABC34501DE35"


def test_cnpj_known_numeric_example():
    assert normalise_cnpj("11.222.333/0001-81") == "11222333000181"
    assert normalise_cnpj("11222333000181") == "11222333000181"


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("", "required"),
        ("11.222.333/0001-82", "check_digits"),
        ("12.ABC.345/01DE-36", "check_digits"),
        ("00.000.000/0000-00", "check_digits"),
        ("11.222.333/0001-8A", "length"),  # check digits are always digits
        ("11.222.333/0001-811", "length"),
        ("1122233300", "length"),
        ("11.222.333_0001-81", "invalid"),
        ("11.222.333/0001-8\u0661", "invalid"),  # an Arabic-Indic one
    ],
)
def test_cnpj_broken_values_raise_with_a_stable_code(value, code):
    with raises_identifier_error(IdentifierKind.CNPJ, code):
        normalise_cnpj(value)


# ---------------------------------------------------------------- external ids


def test_external_id_is_trimmed_and_keeps_its_case():
    assert normalise_external("  CRM-00042-AbC \n") == "CRM-00042-AbC"
    assert normalise_external("abc") != normalise_external("ABC")


def test_external_id_is_nfc_normalised():
    decomposed = "Cafe\u0301-1"

    normalised = normalise_external(decomposed)

    assert normalised == "Caf\u00e9-1"
    assert unicodedata.is_normalized("NFC", normalised)


def test_external_id_length_limit():
    assert normalise_external("x" * MAX_EXTERNAL_ID_LENGTH) == "x" * MAX_EXTERNAL_ID_LENGTH
    assert normalise_external(f"  {'x' * MAX_EXTERNAL_ID_LENGTH}  ") == "x" * MAX_EXTERNAL_ID_LENGTH
    with raises_identifier_error(IdentifierKind.EXTERNAL, "too_long"):
        normalise_external("x" * (MAX_EXTERNAL_ID_LENGTH + 1))


@pytest.mark.parametrize("value", ["ab\x00cd", "ab\ncd", "ab\tcd", "id\x7f", "a\x1bb", "a\x85b"])
def test_external_id_with_control_characters_is_refused(value):
    with raises_identifier_error(IdentifierKind.EXTERNAL, "invalid"):
        normalise_external(value)


@PROPERTY
@given(st.text(st.characters(exclude_categories=["Cc", "Cs"]), min_size=1, max_size=MAX_EXTERNAL_ID_LENGTH))
def test_external_id_without_controls_is_accepted_and_idempotent(value):
    assume(value.strip())

    normalised = normalise_external(value)

    assert normalised == unicodedata.normalize("NFC", value).strip()
    assert normalise_external(normalised) == normalised


# ---------------------------------------------------------------- dispatch


@pytest.mark.parametrize(
    ("kind", "value", "expected"),
    [
        ("email", " Maria@Gmail.COM ", "maria@gmail.com"),
        (IdentifierKind.EMAIL, "maria@gmail.com", "maria@gmail.com"),
        ("phone", "(11) 98765-4321", "+5511987654321"),
        ("cpf", "123.456.789-09", "12345678909"),
        (IdentifierKind.CNPJ, "12.ABC.345/01DE-35", "12ABC34501DE35"),
        ("external", " AbC ", "AbC"),
    ],
)
def test_normalise_dispatches_on_kind(kind, value, expected):
    assert normalise(kind, value) == expected


@pytest.mark.parametrize("kind", ["passport", "", "EMAIL", None])
def test_normalise_refuses_an_unknown_kind(kind):
    with raises_identifier_error(IdentifierKind.EXTERNAL, "kind") as info:
        normalise(kind, "12345678909")

    assert "12345678909" not in str(info.value)
    assert "email" in info.value.message


def test_normalise_passes_the_normalisers_error_through():
    with raises_identifier_error(IdentifierKind.CPF, "check_digits"):
        normalise("cpf", "123.456.789-00")


# ---------------------------------------------------------------- no PII in errors


# The text messages are written from: a value found in it is wording, not an echo of the value.
LIBRARY_TEXT = "".join(inspect.getsource(module) for module in (identifiers, email_validator.syntax, idna.core))


def _assert_no_value_in_error(kind: IdentifierKind, value: str) -> None:
    _, error = outcome(NORMALISERS[kind], value)

    if error is None:
        return
    assert error.kind is kind
    stripped = value.strip()
    # A value that is itself a piece of the libraries' own wording ("phone", "a valid") may of course appear.
    if len(stripped) >= 4 and stripped not in LIBRARY_TEXT:
        assert stripped not in str(error)
        assert stripped not in error.message


@pytest.mark.parametrize("kind", list(IdentifierKind))
@PROPERTY
@given(value=st.text(min_size=4))
def test_errors_never_repeat_the_value(kind, value):
    _assert_no_value_in_error(kind, value)


@pytest.mark.parametrize("kind", list(IdentifierKind))
@pytest.mark.parametrize(
    "value",
    [
        "maria.silva@@gmail.com",
        "maria silva@gmail",
        "maria.silva@gmail.c",
        "maria.silva@-gmail.com",
        "maria.silva@gmail_x.com",
        "123.456.789-00",
        "11 98765-43",
        "+55 11 98765-4321-1234-5678",
        "12.345.678/0001-00",
        "x" * 400,
        "maria\x00silva",
    ],
)
def test_errors_never_repeat_plausible_values(kind, value):
    _assert_no_value_in_error(kind, value)


@pytest.mark.parametrize("kind", list(IdentifierKind))
@pytest.mark.parametrize("value", [12345678909, None, ["maria@gmail.com"], b"maria@gmail.com", 1.5])
def test_non_text_values_are_refused(kind, value):
    with raises_identifier_error(kind, "type"):
        NORMALISERS[kind](value)
    with raises_identifier_error(kind, "type"):
        normalise(kind, value)


# ---------------------------------------------------------------- masks


def test_mask_email_keeps_first_characters_and_the_tld():
    masked = mask("email", "maria.silva@gmail.com")

    assert masked == "m***@g***.com"
    assert "maria" not in masked
    assert "gmail" not in masked


def test_mask_email_with_subdomains_keeps_only_the_last_label():
    assert mask(IdentifierKind.EMAIL, "ana@mail.exemplo.com.br") == "a***@m***.br"


def test_mask_cpf_shows_only_the_middle_group():
    masked = mask("cpf", "12345678909")

    # The library hides the third group as well: ***.456.***-** (stricter than the usual ***.456.789-**).
    assert masked == "***.456.***-**"
    assert re.fullmatch(r"\*{3}\.\d{3}\.\*{3}-\*{2}", masked)


def test_mask_phone_keeps_country_prefix_and_last_two_digits():
    masked = mask("phone", "+5511987654321")

    assert masked == "+55*********21"
    assert len(masked) == len("+5511987654321")


def test_mask_cnpj_and_external():
    assert mask("cnpj", "11222333000181") == "11.***.***/0001-**"
    assert mask("external", "CRM-00042") == "CR***"
    assert mask("external", "") == ""


@PROPERTY
@given(messy_emails(), valid_cpfs, valid_numeric_cnpjs, st.sampled_from(PHONE_EXAMPLES))
def test_masks_never_contain_the_full_value(spelled_email, cpf, cnpj, phone_example):
    _, number = phone_example
    values = {
        IdentifierKind.EMAIL: normalise_email(spelled_email[0]),
        IdentifierKind.CPF: cpf,
        IdentifierKind.CNPJ: cnpj,
        IdentifierKind.PHONE: phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164),
    }
    for kind, value in values.items():
        masked = mask(kind, value)
        assert value not in masked
        assert masked != value
        assert "*" in masked


# ---------------------------------------------------------------- fast paths agree with the libraries


def _full_email_path(text: str) -> str | None:
    from email_validator import EmailNotValidError, validate_email

    try:
        result = validate_email(text, check_deliverability=False, allow_smtputf8=True)
    except EmailNotValidError:
        return None
    return f"{result.local_part.lower()}@{result.ascii_domain.lower()}"


_email_like = st.from_regex(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,70}@[A-Za-z0-9.-]{1,40}\.[A-Za-z]{1,8}", fullmatch=True)


@settings(max_examples=1500, deadline=None)
@given(st.one_of(_email_like, st.emails()))
def test_the_ascii_email_fast_path_agrees_with_email_validator(text):
    from c360.lib.identifiers import _fast_email

    fast = _fast_email(text)
    if fast is not None:
        assert fast == _full_email_path(text)


def _parser_path(text: str) -> str | None:
    try:
        number = phonenumbers.parse(text, "BR")
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


_br_digits = st.builds(
    lambda ddd, first, rest: f"{ddd}{first}{rest}",
    st.integers(min_value=10, max_value=99),
    st.sampled_from(["2", "3", "4", "5", "6", "7", "8", "9", "96", "97", "98", "99", "91"]),
    st.text(alphabet="0123456789", min_size=7, max_size=8),
)


@settings(max_examples=1500, deadline=None)
@given(digits=_br_digits, spelling=st.sampled_from(["plain", "plus", "trunk", "masked", "spaced"]))
def test_the_brazilian_phone_fast_path_agrees_with_the_parser(digits, spelling):
    written = {
        "plain": digits,
        "plus": f"+55{digits}",
        "trunk": f"0{digits}",
        "masked": f"({digits[:2]}) {digits[2:-4]}-{digits[-4:]}",
        "spaced": f"+55 {digits[:2]} {digits[2:]}",
    }[spelling]
    expected = _parser_path(written)

    try:
        normalised = normalise_phone(written)
    except IdentifierError:
        normalised = None

    assert normalised == expected
