import datetime

import pytest
from django.core.exceptions import ValidationError

from conftest import make_id_number
from gonghui.orgs.identity import (
    NoncePool,
    decrypt_id_number,
    encrypt_id_number,
    id_check_char,
    id_number_hash,
    mask_id_number,
    mask_phone,
    normalise_phone,
    parse_id_number,
)


def test_check_character_of_the_standard_example():
    # The example number of GB 11643-1999: 11010519491231002X.
    assert id_check_char("11010519491231002") == "X"
    ident = parse_id_number("11010519491231002x")
    assert ident.value == "11010519491231002X"
    assert ident.birth_date == datetime.date(1949, 12, 31)
    assert ident.gender == "F"  # 17th digit 2 is even


def test_gender_and_birth_date_are_derived():
    ident = parse_id_number(make_id_number(birth="19850615", seq=11))
    assert ident.birth_date == datetime.date(1985, 6, 15)
    assert ident.gender == "M"


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("", "id_missing"),
        ("51010419900307001", "id_length"),
        ("5101041990030700AX", "id_characters"),
        ("99010419900307001" + id_check_char("99010419900307001"), "id_region"),
        ("51010419900230001" + id_check_char("51010419900230001"), "id_birth_date"),
        ("51010430000101001" + id_check_char("51010430000101001"), "id_birth_date"),
    ],
)
def test_bad_id_numbers_are_refused_with_a_reason(raw, code):
    with pytest.raises(ValidationError) as info:
        parse_id_number(raw)
    assert info.value.code == code


def test_wrong_check_digit_names_the_right_one():
    good = make_id_number()
    wrong = good[:17] + ("0" if good[17] != "0" else "1")
    with pytest.raises(ValidationError) as info:
        parse_id_number(wrong)
    assert info.value.code == "id_check_digit"
    assert good[17] in info.value.messages[0]


def test_masking():
    assert mask_id_number("51010419900307123X") == "5101**********123X"
    assert mask_phone("13812345678") == "138****5678"
    assert mask_phone("") == ""


def test_phone_normalisation():
    assert normalise_phone(" 138-1234-5678 ") == "13812345678"
    assert normalise_phone("+8613812345678") == "13812345678"
    assert normalise_phone("") == ""
    with pytest.raises(ValidationError):
        normalise_phone("12345")


def test_encryption_round_trip_and_lookup_hash():
    value = make_id_number()
    a, b = encrypt_id_number(value), encrypt_id_number(value)
    assert a != b  # random nonce: equal numbers do not give equal ciphertexts
    assert value not in a
    assert decrypt_id_number(a) == decrypt_id_number(b) == value
    assert id_number_hash(value) == id_number_hash(value)
    assert id_number_hash(value) != id_number_hash(make_id_number(seq=2))


def test_nonces_drawn_in_blocks_are_all_different_and_decrypt(settings):
    pool = NoncePool(block=4)
    nonces = [pool.take() for _ in range(10)]  # across three blocks
    assert all(len(n) == 12 for n in nonces)
    assert len(set(nonces)) == 10
    value = make_id_number(seq=3)
    cipher = encrypt_id_number(value, nonce=nonces[0])
    assert decrypt_id_number(cipher) == value
    with pytest.raises(ValueError):
        encrypt_id_number(value, nonce=b"short")


def test_check_character_needs_exactly_17_characters():
    with pytest.raises(ValueError):
        id_check_char("1101051949123100")
