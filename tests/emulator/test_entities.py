"""Message formatting: parse modes, given entities and found entities, as Telegram does them.

Expected texts, entities and error descriptions follow TDLib's MessageEntity.cpp, which the
Bot API server runs; offsets and lengths are UTF-16 code units.
"""

from __future__ import annotations

import html

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sluice.emulator._text import (
    EntityParseError,
    detect_entities,
    parse_text,
    utf16_len,
    validate_entities,
)

Entities = list[dict[str, object]]
PARSE = "Bad Request: can't parse entities: "
RESERVED = "Character '{}' is reserved and must be escaped with the preceding '\\'"


def entity(kind: str, offset: int, length: int, **extra: object) -> dict[str, object]:
    return {"type": kind, "offset": offset, "length": length, **extra}


def parse_error(text: str, mode: str | None) -> str:
    with pytest.raises(EntityParseError) as caught:
        parse_text(text, mode)
    return caught.value.description


def validate_error(text: str, entities: object) -> str:
    with pytest.raises(EntityParseError) as caught:
        validate_entities(text, entities)
    return caught.value.description


@pytest.mark.parametrize(
    ("text", "units"),
    [("", 0), ("hello", 5), ("héllo", 5), ("👋", 2), ("héllo 👋", 8), ("🇮🇩", 4), ("日本", 2)],
)
def test_utf16_len_counts_astral_characters_twice(text: str, units: int) -> None:
    assert utf16_len(text) == units


@pytest.mark.parametrize("mode", [None, "", "none", "None"])
def test_no_parse_mode_leaves_the_text_alone(mode: str | None) -> None:
    assert parse_text("<b>*x*</b>", mode) == ("<b>*x*</b>", [])


@pytest.mark.parametrize("mode", ["HTML", "html", "Html", "MARKDOWNV2", "markdown"])
def test_parse_modes_are_matched_without_case(mode: str) -> None:
    assert parse_text("plain", mode) == ("plain", [])


@pytest.mark.parametrize("mode", ["XML", "markdown2", "MarkdownV3", " HTML"])
def test_an_unknown_parse_mode_is_refused(mode: str) -> None:
    assert parse_error("x", mode) == "Bad Request: unsupported parse_mode"


@pytest.mark.parametrize(
    ("source", "kind"),
    [
        ("<b>x</b>", "bold"),
        ("<strong>x</strong>", "bold"),
        ("<i>x</i>", "italic"),
        ("<em>x</em>", "italic"),
        ("<u>x</u>", "underline"),
        ("<ins>x</ins>", "underline"),
        ("<s>x</s>", "strikethrough"),
        ("<strike>x</strike>", "strikethrough"),
        ("<del>x</del>", "strikethrough"),
        ("<tg-spoiler>x</tg-spoiler>", "spoiler"),
        ('<span class="tg-spoiler">x</span>', "spoiler"),
        ("<code>x</code>", "code"),
        ("<pre>x</pre>", "pre"),
        ("<blockquote>x</blockquote>", "blockquote"),
        ("<blockquote expandable>x</blockquote>", "expandable_blockquote"),
        ("<B>x</B>", "bold"),
        ("<b >x</b >", "bold"),
    ],
)
def test_html_tags(source: str, kind: str) -> None:
    assert parse_text(f"a {source} z", "HTML") == ("a x z", [entity(kind, 2, 1)])


def test_html_nesting() -> None:
    text, entities = parse_text("<b>bold <i>both <u>all</u></i></b> none", "HTML")
    assert text == "bold both all none"
    assert entities == [entity("bold", 0, 13), entity("italic", 5, 8), entity("underline", 10, 3)]


def test_html_entities_sharing_a_range_keep_telegrams_order() -> None:
    _, entities = parse_text("<i><s><b><u>x</u></b></s></i>", "HTML")
    assert [e["type"] for e in entities] == ["bold", "italic", "underline", "strikethrough"]


def test_html_links() -> None:
    source = "<a href=\"https://example.com\">site</a> <a href='tg://user?id=123'>him</a>"
    assert parse_text(source, "HTML") == (
        "site him",
        [
            entity("text_link", 0, 4, url="https://example.com/"),
            entity("text_mention", 5, 3, user={"id": 123}),
        ],
    )


@pytest.mark.parametrize(
    ("source", "url"),
    [
        ('<a href="http://Example.COM/Path?q=1">x</a>', "http://example.com/Path?q=1"),
        ("<a href=example.com>x</a>", "http://example.com/"),
        ('<a href="example.com:8443">x</a>', "http://example.com:8443/"),
        ('<a href="tg://resolve?domain=durov">x</a>', "tg://resolve?domain=durov"),
        ('<a href="https://a.com/?x=&lt;&amp;&quot;">x</a>', 'https://a.com/?x=<&"'),
        ("<a>example.com</a>", "http://example.com/"),
    ],
)
def test_html_link_urls_are_normalised_like_telegram(source: str, url: str) -> None:
    assert parse_text(source, "HTML")[1][0]["url"] == url


@pytest.mark.parametrize("href", ["localhost", "", "ftp://files.example.com", "javascript:x()"])
def test_html_links_telegram_rejects_become_plain_text(href: str) -> None:
    assert parse_text(f'<a href="{href}">x</a>', "HTML") == ("x", [])


def test_html_pre_with_language() -> None:
    source = '<pre><code class="language-python">print(1)</code></pre>'
    assert parse_text(source, "HTML") == ("print(1)", [entity("pre", 0, 8, language="python")])


def test_html_code_keeps_no_language_of_its_own() -> None:
    assert parse_text('<code class="language-go">x</code>', "HTML") == ("x", [entity("code", 0, 1)])


def test_html_custom_emoji() -> None:
    source = '<tg-emoji emoji-id="5368324170671202286">👍</tg-emoji>'
    assert parse_text(source, "HTML") == (
        "👍",
        [entity("custom_emoji", 0, 2, custom_emoji_id="5368324170671202286")],
    )


def test_html_nothing_is_formatted_inside_code() -> None:
    assert parse_text("<code><b>x</b>y</code>", "HTML") == ("xy", [entity("code", 0, 2)])


def test_html_empty_entities_are_dropped() -> None:
    assert parse_text("a<b></b>b<i> </i>", "HTML") == ("ab ", [entity("italic", 2, 1)])


def test_html_character_references() -> None:
    source = "&lt;b&gt; &amp; &quot;q&quot; &#33;&#x21; &lt &nbsp; &copy; &#0; & x"
    assert parse_text(source, "HTML") == ('<b> & "q" !! < &nbsp; &copy; &#0; & x', [])


def test_html_offsets_are_utf16_units() -> None:
    source = "héllo 👋 <b>wörld 👋</b> <i>Selamat pagi, dunia!</i>"
    text, entities = parse_text(source, "HTML")
    assert text == "héllo 👋 wörld 👋 Selamat pagi, dunia!"
    assert entities == [entity("bold", 9, 8), entity("italic", 18, 20)]


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("<foo>x</foo>", 'Unsupported start tag "foo" at byte offset 0'),
        ("é <br/>", 'Unsupported start tag "br/" at byte offset 3'),
        ("1 < 2", 'Unsupported start tag "" at byte offset 2'),
        ("<b>x", 'Can\'t find end tag corresponding to start tag "b"'),
        ("<b><i>x</i>", 'Can\'t find end tag corresponding to start tag "b"'),
        ("<b>x</i>", 'Unmatched end tag at byte offset 4, expected "</b>", found "</i>"'),
        ("<b><i>x</b></i>", 'Unmatched end tag at byte offset 7, expected "</i>", found "</b>"'),
        ("x</b>", "Unexpected end tag at byte offset 1"),
        ("<b>x</b", "Unclosed end tag at byte offset 4"),
        ("<b", "Unclosed start tag at byte offset 0"),
        ("<b x", 'Unclosed start tag "b" at byte offset 0'),
        ('<a href="x', "Unclosed start tag at byte offset 0"),
        ("<a =x>", 'Empty attribute name in the tag "a" at byte offset 0'),
        ("<a href=x;y>z</a>", "Unexpected end of name token at byte offset 8"),
        ("<span>x</span>", 'Tag "span" must have class "tg-spoiler" at byte offset 0'),
        ('<tg-emoji emoji-id="0">x</tg-emoji>', "Invalid custom emoji identifier specified"),
        (
            "&#xD83D;",
            "Text contains invalid Unicode characters after decoding HTML entities, check "
            "for unmatched surrogate code units",
        ),
    ],
)
def test_html_errors(source: str, message: str) -> None:
    assert parse_error(source, "HTML") == PARSE + message


@given(st.text())
def test_escaped_text_parses_back_to_itself(text: str) -> None:
    assert parse_text(html.escape(text), "HTML") == (text, [])


def test_markdown_v2_styles() -> None:
    source = "*bold* _italic_ __under__ ~strike~ ||spoiler|| `code`"
    assert parse_text(source, "MarkdownV2") == (
        "bold italic under strike spoiler code",
        [
            entity("bold", 0, 4),
            entity("italic", 5, 6),
            entity("underline", 12, 5),
            entity("strikethrough", 18, 6),
            entity("spoiler", 25, 7),
            entity("code", 33, 4),
        ],
    )


def test_markdown_v2_nesting_as_in_the_bot_api_docs() -> None:
    source = (
        "*bold _italic bold ~italic bold strikethrough ||italic bold strikethrough spoiler||~ "
        "__underline italic bold___ bold*"
    )
    text, entities = parse_text(source, "MarkdownV2")
    assert text == (
        "bold italic bold italic bold strikethrough italic bold strikethrough spoiler "
        "underline italic bold bold"
    )
    assert entities == [
        entity("bold", 0, 103),
        entity("italic", 5, 93),
        entity("strikethrough", 17, 59),
        entity("spoiler", 43, 33),
        entity("underline", 77, 21),
    ]


def test_markdown_v2_links() -> None:
    source = "[site](https://example.com/a\\)b) [him](tg://user?id=42) [*b*](example.org)"
    assert parse_text(source, "MarkdownV2") == (
        "site him b",
        [
            entity("text_link", 0, 4, url="https://example.com/a)b"),
            entity("text_mention", 5, 3, user={"id": 42}),
            entity("text_link", 9, 1, url="http://example.org/"),
            entity("bold", 9, 1),
        ],
    )


def test_markdown_v2_pre_and_code() -> None:
    source = "```python\nprint('a.b')\n``` ```\nplain\n``` `x_y`"
    assert parse_text(source, "MarkdownV2") == (
        "print('a.b')\n plain\n x_y",
        [entity("pre", 0, 13, language="python"), entity("pre", 14, 6), entity("code", 21, 3)],
    )


def test_markdown_v2_escapes() -> None:
    source = "1\\.5 \\* 2 \\= 3\\! \\\\ \\a \\_\\*\\[\\]\\(\\)\\~\\`\\>\\#\\+\\-\\|\\{\\}"
    assert parse_text(source, "MarkdownV2") == ("1.5 * 2 = 3! \\ a _*[]()~`>#+-|{}", [])


def test_markdown_v2_blockquote() -> None:
    source = ">Kutipan *tebal*\n>baris dua\nsetelahnya"
    assert parse_text(source, "MarkdownV2") == (
        "Kutipan tebal\nbaris dua\nsetelahnya",
        [entity("blockquote", 0, 24), entity("bold", 8, 5)],
    )


def test_markdown_v2_expandable_blockquote() -> None:
    assert parse_text("**>one\n>two||\nafter", "MarkdownV2") == (
        "one\ntwo\nafter",
        [entity("expandable_blockquote", 0, 8)],
    )
    assert parse_text(">only||", "MarkdownV2") == ("only", [entity("expandable_blockquote", 0, 4)])


def test_markdown_v2_custom_emoji() -> None:
    source = "![👍](tg://emoji?id=5368324170671202286) ok"
    assert parse_text(source, "MarkdownV2") == (
        "👍 ok",
        [entity("custom_emoji", 0, 2, custom_emoji_id="5368324170671202286")],
    )


def test_markdown_v2_offsets_are_utf16_units() -> None:
    source = "héllo 👋 *wörld 👋* _Apa kabar?_"
    assert parse_text(source, "MarkdownV2") == (
        "héllo 👋 wörld 👋 Apa kabar?",
        [entity("bold", 9, 8), entity("italic", 18, 10)],
    )


def test_markdown_v2_empty_entities_are_dropped() -> None:
    assert parse_text("a**b____c", "MarkdownV2") == ("abc", [])


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("Harga: 10.000", RESERVED.format(".")),
        ("Halo!", RESERVED.format("!")),
        ("a-b", RESERVED.format("-")),
        ("x > y", RESERVED.format(">")),
        ("a|b", RESERVED.format("|")),
        ("(x)", RESERVED.format("(")),
        ("*a.*", RESERVED.format(".")),
        ("*unclosed", "Can't find end of Bold entity at byte offset 0"),
        ("é _x", "Can't find end of Italic entity at byte offset 3"),
        ("__x", "Can't find end of Underline entity at byte offset 0"),
        ("~x", "Can't find end of Strikethrough entity at byte offset 0"),
        ("||x", "Can't find end of Spoiler entity at byte offset 0"),
        ("`x", "Can't find end of Code entity at byte offset 0"),
        ("```\nx", "Can't find end of Pre entity at byte offset 0"),
        ("```go\nx", "Can't find end of PreCode entity at byte offset 0"),
        ("[x", "Can't find end of TextUrl entity at byte offset 0"),
        ("*b _i*", "Can't find end of Bold entity at byte offset 5"),
        (">*q\n", "Can't find end of Bold entity at byte offset 1"),
        ("[x](http://a.com", "Can't find end of a URL at byte offset 4"),
        ("![x]", "Custom emoji entity must contain a tg://emoji URL"),
        ("![x](tg://emoji?id=", "Can't find end of a custom emoji URL at byte offset 5"),
        ("![x](https://a.com)", "Invalid custom emoji identifier specified"),
    ],
)
def test_markdown_v2_errors(source: str, message: str) -> None:
    assert parse_error(source, "MarkdownV2") == PARSE + message


def test_markdown() -> None:
    source = "*b* _i_ `c` [l](http://t.me) ```js\nx = 1```  \\_\\*"
    assert parse_text(source, "Markdown") == (
        "b i c l x = 1  _*",
        [
            entity("bold", 0, 1),
            entity("italic", 2, 1),
            entity("code", 4, 1),
            entity("text_link", 6, 1, url="http://t.me/"),
            entity("pre", 8, 5, language="js"),
        ],
    )


def test_markdown_has_no_nesting_and_few_reserved_characters() -> None:
    assert parse_text("*a _b_ c* 1.5! (ok)", "Markdown") == (
        "a _b_ c 1.5! (ok)",
        [entity("bold", 0, 7)],
    )


def test_markdown_offsets_are_utf16_units() -> None:
    assert parse_text("👋👋 *hé* `🇮🇩`", "Markdown") == (
        "👋👋 hé 🇮🇩",
        [entity("bold", 5, 2), entity("code", 8, 4)],
    )


@pytest.mark.parametrize(
    ("source", "offset"), [("*unclosed", 0), ("snake_case", 5), ("é `x", 3), ("```x", 0)]
)
def test_markdown_errors(source: str, offset: int) -> None:
    message = f"Can't find end of the entity starting at byte offset {offset}"
    assert parse_error(source, "Markdown") == PARSE + message


def test_validate_entities_normalises() -> None:
    given_entities: list[object] = [
        {"type": "italic", "offset": 6, "length": 5, "unknown": True},
        {"type": "bold", "offset": "0", "length": 11},
        {"type": "text_link", "offset": 0, "length": 5, "url": "https://Example.com"},
        {"type": "text_link", "offset": 6, "length": 5, "url": "tg://user?id=5"},
        {"type": "text_mention", "offset": 0, "length": 1, "user": {"id": 7, "first_name": "A"}},
        {"type": "pre", "offset": 6, "length": 5, "language": "py"},
        {"type": "pre", "offset": 0, "length": 2, "language": ""},
        {"type": "custom_emoji", "offset": 0, "length": 2, "custom_emoji_id": 123},
        {"type": "bold", "offset": 3, "length": 0},
        {"type": "mention", "offset": 0, "length": 5},
    ]
    assert validate_entities("hello world", given_entities) == [
        entity("bold", 0, 11),
        entity("text_link", 0, 5, url="https://example.com/"),
        entity("pre", 0, 2),
        entity("custom_emoji", 0, 2, custom_emoji_id="123"),
        entity("text_mention", 0, 1, user={"id": 7}),
        entity("pre", 6, 5, language="py"),
        entity("text_mention", 6, 5, user={"id": 5}),
        entity("italic", 6, 5),
    ]


def test_validate_entities_counts_utf16_units() -> None:
    given_entities = [{"type": "bold", "offset": 0, "length": 2}]
    assert validate_entities("👋", given_entities) == [entity("bold", 0, 2)]
    assert validate_entities("héllo 👋", [{"type": "spoiler", "offset": 6, "length": 2}]) == [
        entity("spoiler", 6, 2)
    ]


@pytest.mark.parametrize("given_entities", [None, []])
def test_validate_entities_without_entities(given_entities: object) -> None:
    assert validate_entities("x", given_entities) == []


@pytest.mark.parametrize(
    ("given_entities", "description"),
    [
        ({"type": "bold"}, "Bad Request: expected an Array of MessageEntity"),
        ("bold", "Bad Request: expected an Array of MessageEntity"),
        (["bold"], "Bad Request: can't parse MessageEntity: expected an Object"),
        (
            [{"offset": 0, "length": 1}],
            "Bad Request: can't parse MessageEntity: Can't find field \"type\"",
        ),
        (
            [{"type": "bold", "length": 1}],
            "Bad Request: can't parse MessageEntity: Can't find field \"offset\"",
        ),
        (
            [{"type": "bold", "offset": 0, "length": "one"}],
            'Bad Request: can\'t parse MessageEntity: Field "length" must be a valid Number',
        ),
        (
            [{"type": "bold", "offset": 0.5, "length": 1}],
            'Bad Request: can\'t parse MessageEntity: Field "offset" must be a valid Number',
        ),
        (
            [{"type": "bold", "offset": None, "length": 1}],
            'Bad Request: can\'t parse MessageEntity: Field "offset" must be a Number',
        ),
        (
            [{"type": "", "offset": 0, "length": 1}],
            "Bad Request: can't parse MessageEntity: Type is not specified",
        ),
        (
            [{"type": "shiny", "offset": 0, "length": 1}],
            "Bad Request: can't parse MessageEntity: Unsupported type specified",
        ),
        (
            [{"type": ["bold"], "offset": 0, "length": 1}],
            'Bad Request: can\'t parse MessageEntity: Field "type" must be of type String',
        ),
        (
            [{"type": "text_link", "offset": 0, "length": 1}],
            "Bad Request: can't parse MessageEntity: Can't find field \"url\"",
        ),
        (
            [{"type": "text_mention", "offset": 0, "length": 1, "user": 7}],
            'Bad Request: can\'t parse MessageEntity: Field "user" must be of type Object',
        ),
        (
            [{"type": "text_mention", "offset": 0, "length": 1, "user": {}}],
            "Bad Request: can't parse MessageEntity: Can't find field \"id\"",
        ),
        (
            [{"type": "text_link", "offset": 0, "length": 1, "url": "localhost"}],
            "Bad Request: entity URL 'localhost' is invalid: Wrong HTTP URL",
        ),
        (
            [{"type": "text_link", "offset": 0, "length": 1, "url": "ftp://a.com"}],
            "Bad Request: entity URL 'ftp://a.com' is invalid: Unsupported URL protocol",
        ),
        (
            [{"type": "custom_emoji", "offset": 0, "length": 1, "custom_emoji_id": "0"}],
            "Bad Request: invalid custom emoji identifier specified",
        ),
        (
            [{"type": "bold", "offset": -1, "length": 1}],
            "Bad Request: receive an entity with incorrect offset -1",
        ),
        (
            [{"type": "bold", "offset": 0, "length": -2}],
            "Bad Request: receive an entity with incorrect length -2",
        ),
        (
            [{"type": "bold", "offset": 6, "length": 1}],
            "Bad Request: entity begins after the end of the text at UTF-16 offset 6",
        ),
        (
            [{"type": "bold", "offset": 2, "length": 4}],
            "Bad Request: entity beginning at UTF-16 offset 2 ends after the end of the text "
            "at UTF-16 offset 6",
        ),
    ],
)
def test_validate_entities_errors(given_entities: object, description: str) -> None:
    assert validate_error("hello", given_entities) == description


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("/start", [entity("bot_command", 0, 6)]),
        ("/start@SomeBot payload", [entity("bot_command", 0, 14)]),
        ("try /help or (/settings)", [entity("bot_command", 4, 5), entity("bot_command", 14, 9)]),
        ("a/start /start/ /a@b 1/2 /", []),
        ("/" + "c" * 64 + " /" + "c" * 65, [entity("bot_command", 0, 65)]),
        (
            "hi @durov, @abcd @abc @gif x@durov",
            [entity("mention", 3, 6), entity("mention", 11, 5), entity("mention", 22, 4)],
        ),
        (
            "#tag #123 #tag_1 a#b #тег #x#y",
            [entity("hashtag", 0, 4), entity("hashtag", 10, 6), entity("hashtag", 21, 4)],
        ),
        (
            "$USD $usd $A x$EUR $TOOLONGXX $1INCH",
            [entity("cashtag", 0, 4), entity("cashtag", 10, 2), entity("cashtag", 30, 6)],
        ),
        ("write to john.doe+x@mail.example.co.uk.", [entity("email", 9, 29)]),
        ("example.com/path, and test.txt", [entity("url", 0, 16)]),
        ("https://sub.example.org/a?b=c#d. ok", [entity("url", 0, 31)]),
        ("(https://en.wikipedia.org/wiki/Foo_(bar))", [entity("url", 1, 39)]),
        ("http://localhost:8080 and 10.0.0.1 and 999.1.1.1", [entity("url", 26, 8)]),
        ("HTTPS://EXAMPLE.COM and t.me/durov", [entity("url", 0, 19), entity("url", 24, 10)]),
    ],
)
def test_detect_entities(text: str, found: Entities) -> None:
    assert detect_entities(text) == found


def test_detect_entities_in_mixed_text_counts_utf16_units() -> None:
    text = "Halo 👋 @admin_toko, cek https://contoh.co.id/promo 🇮🇩 #diskon /mulai"
    assert detect_entities(text) == [
        entity("mention", 8, 11),
        entity("url", 25, 26),
        entity("hashtag", 57, 7),
        entity("bot_command", 65, 6),
    ]
