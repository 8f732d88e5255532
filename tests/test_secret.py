"""Secrets never leak through reprs or error messages, even when a message was cut short."""

from modelreg.secret import Secret, scrub

KEY = "sk-proj-A1b2C3d4E5f6G7h8"


def test_repr_and_str_show_only_the_hint() -> None:
    secret = Secret(KEY)
    assert KEY not in repr(secret)
    assert KEY not in str(secret)
    assert repr(secret).endswith("G7h8')")


def test_whole_secret_is_removed_everywhere_it_appears() -> None:
    text = f"Incorrect API key provided: {KEY}. Again: {KEY}"
    assert scrub(text, [KEY]) == "Incorrect API key provided: ****. Again: ****"
    assert scrub(text, [KEY], keep_hint=True).count("****G7h8") == 2


def test_a_secret_cut_off_at_the_end_of_a_shortened_message_is_removed() -> None:
    # providers' messages are shortened before scrubbing; the cut can fall inside the key
    text = ("x" * 585 + f" key {KEY}")[:600]  # ends with 10 characters of the key
    cleaned = scrub(text, [KEY])
    assert KEY[:6] not in cleaned
    assert cleaned.endswith(" key ****")


def test_ordinary_words_are_kept() -> None:
    assert scrub("the key sk is fine", [KEY]) == "the key sk is fine"
