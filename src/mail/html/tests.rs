//! Reading HTML as lines, and the sanitizer policy.
use super::*;

fn lines(html: &str) -> Vec<String> {
    Lines::read(&document(html)).quoted()
}

fn no_images(_: &str) -> Option<String> {
    None
}

fn cleaned(html: &str) -> String {
    clean(html, &no_images).html
}

#[test]
fn blocks_breaks_and_blank_lines_are_lines() {
    assert_eq!(
        lines("<div>Hi.</div><div><br></div><div>Thanks,</div><div>Alex<br><br></div>"),
        ["Hi.", "", "Thanks,", "Alex", ""]
    );
    assert_eq!(
        lines("<p>One <b>two</b>\n   three</p><p>&nbsp;</p><p>four</p>"),
        ["One two three", "", "four"]
    );
}

#[test]
fn blockquotes_are_quotes_and_rules_are_rules() {
    assert_eq!(
        lines(
            "Above<hr>On Thu, X wrote:<blockquote>q1<br><br>q2<blockquote>deep</blockquote></blockquote>After"
        ),
        [
            "Above",
            "------------------------------",
            "On Thu, X wrote:",
            "> q1",
            ">",
            "> q2",
            "> > deep",
            "After"
        ]
    );
}

#[test]
fn preformatted_text_keeps_its_lines() {
    let doc = document("<pre>first\n  second\n\nfourth</pre>after");
    let read = Lines::read(&doc);
    assert_eq!(read.quoted(), ["first", "  second", "", "fourth", "after"]);
    // One text node a line, so one line can go without the others.
    let mut doc = doc;
    read.remove(&mut doc, |i| i != 1);
    assert_eq!(body_html(&doc), "<pre>first\n\nfourth</pre>after");
}

#[test]
fn links_lists_and_images_read_as_a_text_mail_writes_them() {
    assert_eq!(
        lines(
            "<a href=\"https://example.test/a\">the guide</a>, <a href=\"mailto:x@example.test\">x@example.test</a>\
             <ul><li>one</li><li>two</li></ul><ol start=\"3\"><li>three</li></ol><img src=\"cid:a\" alt=\"Logo\">"
        ),
        [
            "the guide <https://example.test/a>, x@example.test",
            "- one",
            "- two",
            "3. three",
            "[image: Logo]"
        ]
    );
}

#[test]
fn what_a_reader_never_sees_is_no_line() {
    assert_eq!(
        lines(
            "<html><head><title>T</title><style>p{}</style></head><body>Hi<script>var x;</script> there</body></html>"
        ),
        ["Hi there"]
    );
}

#[test]
fn removing_lines_takes_the_elements_they_leave_empty() {
    let mut doc = document(
        "<div>Keep</div><div class=\"gmail_quote\">On X wrote:<blockquote><div>q</div></blockquote></div>",
    );
    let read = Lines::read(&doc);
    read.remove(&mut doc, |i| i == 0);
    assert_eq!(body_html(&doc), "<div>Keep</div>");
}

#[test]
fn scripts_styles_and_event_handlers_go() {
    let html = cleaned(
        "<p onclick=\"steal()\" onmouseover=\"x()\">Hi</p><script>alert(1)</script>\
         <style>p { background: url(https://t.example/x) }</style><a href=\"javascript:alert(1)\">click</a>",
    );
    assert_eq!(html, "<p>Hi</p><a rel=\"noopener noreferrer\">click</a>");
}

#[test]
fn forms_frames_and_objects_go() {
    let html = cleaned(
        "<form action=\"https://evil.test\"><input name=\"pw\"><button>Send</button></form>\
         <iframe src=\"https://evil.test\">x</iframe><object data=\"x.swf\"></object>\
         <textarea>secret</textarea>Text",
    );
    assert_eq!(html, "SendText");
}

#[test]
fn styles_keep_formatting_but_nothing_that_loads() {
    assert_eq!(
        cleaned("<span style=\"color: red; font-weight: bold; position: fixed\">a</span>"),
        "<span style=\"color:red;font-weight:bold\">a</span>"
    );
    for loads in [
        "background: url(https://t.example/p.gif)",
        "color: red; background-image: url('x')",
        "behavior: expression(alert(1))",
        "color: re\\64",
    ] {
        assert_eq!(
            cleaned(&format!("<span style=\"{loads}\">a</span>")),
            "<span>a</span>",
            "{loads}"
        );
    }
}

#[test]
fn links_are_web_or_mail_addresses_only() {
    assert_eq!(
        cleaned("<a href=\"https://example.test/x\" target=\"_blank\" class=\"c\" id=\"i\">x</a>"),
        "<a href=\"https://example.test/x\" rel=\"noopener noreferrer\">x</a>"
    );
    assert_eq!(
        cleaned("<a href=\"/relative\">r</a><a href=\"file:///etc/passwd\">f</a>"),
        "<a rel=\"noopener noreferrer\">r</a><a rel=\"noopener noreferrer\">f</a>"
    );
}

#[test]
fn a_remote_image_becomes_a_link_and_a_tracking_pixel_goes() {
    assert_eq!(
        cleaned("<img src=\"https://cdn.example.test/img/logo.png?v=2\" alt=\"Acme\">"),
        "<a href=\"https://cdn.example.test/img/logo.png?v=2\" rel=\"noopener noreferrer\">[image: Acme]</a>"
    );
    assert_eq!(
        cleaned("<img src=\"https://cdn.example.test/img/shot%201.png\">"),
        "<a href=\"https://cdn.example.test/img/shot%201.png\" rel=\"noopener noreferrer\">[image: shot 1.png]</a>"
    );
    for pixel in [
        "<img src=\"https://t.example/o.gif\" width=\"1\" height=\"1\">",
        "<img src=\"https://t.example/o.gif\" style=\"display:none\">",
        "<img src=\"https://t.example/o.gif\" style=\"width: 0px; height: 0px\">",
    ] {
        assert_eq!(cleaned(&format!("Hi{pixel}")), "Hi", "{pixel}");
    }
    // Inside a link, the image leaves its alt text: the link stays.
    assert_eq!(
        cleaned(
            "<a href=\"https://acme.test\"><img src=\"https://acme.test/l.png\" alt=\"Acme\"></a>"
        ),
        "<a href=\"https://acme.test\" rel=\"noopener noreferrer\">[image: Acme]</a>"
    );
}

#[test]
fn an_inline_image_the_mail_carries_stays_under_our_name() {
    let inline =
        |cid: &str| (cid == "ii_abc@mail").then(|| "image1.reply.1@example.test".to_string());
    let c = clean(
        "<img src=\"cid:ii_abc%40mail\" alt=\"screenshot\" width=\"300\" onerror=\"x()\"><img src=\"cid:other\" alt=\"gone\"><img src=\"data:image/png;base64,AAAA\">",
        &inline,
    );
    assert_eq!(
        c.html,
        "<img alt=\"screenshot\" src=\"cid:image1.reply.1@example.test\" width=\"300\">[image: gone]"
    );
    assert_eq!(c.images, ["ii_abc@mail"]);
}
