import datetime
import hmac
import importlib

import pytest
from django.apps import apps
from django.core.exceptions import ValidationError

from conftest import make_id_number
from gonghui.orgs.identity import (
    ID_HASH_LENGTH,
    NoncePool,
    _keys,
    decrypt_id_number,
    encrypt_id_number,
    full_id_number_hash,
    id_check_char,
    id_number_hash,
    mask_id_number,
    mask_phone,
    normalise_phone,
    parse_id_number,
)
from gonghui.orgs.models import Member


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


def test_lookup_hash_is_the_first_128_bits_of_the_keyed_hmac(settings):
    value = make_id_number(seq=4)
    _aes, mac = _keys(settings.GONGHUI_DATA_KEY)
    full = hmac.new(mac, value.encode(), "sha256").hexdigest()
    assert full_id_number_hash(value) == full
    assert id_number_hash(value) == full[:ID_HASH_LENGTH] and ID_HASH_LENGTH == 32
    # Keyed: another key gives another hash.
    settings.GONGHUI_DATA_KEY = settings.GONGHUI_DATA_KEY + "-other"
    assert id_number_hash(value) != full[:ID_HASH_LENGTH]


@pytest.mark.django_db
def test_shortening_migration_cuts_stored_hashes_and_its_way_back_restores_them(tree):
    migration = importlib.import_module("gonghui.orgs.migrations.0007_id_number_hash_shortened")
    members = list(Member.objects.order_by("pk"))
    assert len(members) >= 3
    values = {m.pk: decrypt_id_number(m.id_number_cipher) for m in members}
    assert all(m.id_number_hash == id_number_hash(values[m.pk]) for m in members)

    migration.lengthen(apps, None)  # as stored before: the whole HMAC
    stored = dict(Member.objects.values_list("pk", "id_number_hash"))
    assert stored == {pk: full_id_number_hash(v) for pk, v in values.items()}

    migration.shorten(apps, None)
    stored = dict(Member.objects.values_list("pk", "id_number_hash"))
    assert stored == {pk: id_number_hash(v) for pk, v in values.items()}
    migration.shorten(apps, None)  # again: nothing more to cut
    assert dict(Member.objects.values_list("pk", "id_number_hash")) == stored
    # And a member is found by the hash its number gives now.
    some = members[0]
    assert Member.objects.get(id_number_hash=id_number_hash(values[some.pk])).pk == some.pk
