"""The native format page is the rendering of the schemas: the committed page must match them."""
from pathlib import Path

from trialbridge.converters.formdoc import native_format_markdown
from trialbridge.converters.synth.forms import FORM_NAMES, form_columns

PAGE = Path(__file__).parent.parent / "docs" / "native-format.md"
SPEC = Path(__file__).parent.parent / "examples" / "revallo" / "spec"


def test_committed_page_is_the_rendering_of_the_schemas():
    # after editing a schema: python -m trialbridge.converters.formdoc examples/revallo/spec > docs/native-format.md
    assert PAGE.read_text(encoding="utf-8") == native_format_markdown(SPEC)


def test_every_column_of_every_form_is_documented():
    page = native_format_markdown(SPEC)
    for form in FORM_NAMES:
        for column in form_columns(form):
            assert f"| {column} |" in page, (form, column)
