//! What the desk takes as names through the API: an attachment name holding a control
//! or a bidirectional formatting character (`invoice\u{202E}fdp.exe` shows as
//! `invoiceexe.pdf`) is refused and nothing is attached; a contact that is not a bare
//! address (a header smuggled after a line break, a list, a display name) is refused
//! when the application is filed, and nothing is filed.

mod common;

use common::Env;

#[test]
fn hiding_attachment_names_and_contacts_that_are_not_addresses_are_refused() {
    let env = Env::new();
    let cast = env.cast();
    let duty = env.token("duty", &["--duty"]);
    let server = env.up();
    let id = env.file_yearly_lists(&cast.a, "it@a.example");
    let note = env.write("note.txt", "a short note");
    for name in ["invoice%E2%80%AEfdp.exe", "a%E2%81%A6b.txt", "a%E2%80%8Fb.txt", "a%0Ab.txt", "a%09b.txt", "a%00.txt"]
    {
        let path = format!("/api/v1/requests/{id}/attachments?name={name}");
        let refused = server.call("POST", &path, Some(&duty), Some((&note, "text/plain")));
        assert_eq!(refused.status, 422, "{name}: {}", refused.body);
    }
    let shown = server.get(&format!("/api/v1/requests/{id}"), &duty).json();
    assert_eq!(shown["attachments"].as_array().map_or(0, Vec::len), 0, "nothing attached: {shown}");
    let plain = format!("/api/v1/requests/{id}/attachments?name=%D0%BE%D1%82%D1%87%D1%91%D1%82.txt");
    assert_eq!(server.call("POST", &plain, Some(&duty), Some((&note, "text/plain"))).status, 201, "a Cyrillic name");

    for contact in [
        "it@a.example\\r\\nBcc: victim@example.org",
        "it@a.example, other@example.org",
        "IT <it@a.example>",
        "it@localhost",
        "it@a.example\\u202e",
    ] {
        let body = format!(
            r#"{{"kind": "yearly-lists", "applicant": "org:{}", "contacts": ["{contact}"],
            "fields": {{"categories": ["news"], "networks": ["198.51.100.0/24"]}}}}"#,
            cast.b
        );
        let refused = server.post_json("/api/v1/requests", &duty, &body);
        assert_eq!(refused.status, 422, "{contact}: {}", refused.body);
        assert!(refused.body.contains("is not an e-mail address"), "{}", refused.body);
    }
    assert_eq!(server.get("/api/v1/requests", &duty).json().as_array().unwrap().len(), 1, "nothing more was filed");
}
