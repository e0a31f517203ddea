import Foundation
import HubNetCore
import Testing

/// Every email's text comes from `NoticeCatalog`; the server's tests check the emails as sent,
/// these check the catalog itself.
@Suite("Notice catalog")
struct NoticeCatalogTests {
    @Test("each notice has its own name, a subject, and only tags of the form #word.word")
    func wellFormed() {
        let names = NoticeCatalog.all.map(\.name)
        #expect(Set(names).count == names.count, "\(names)")
        for notice in NoticeCatalog.all {
            #expect(!notice.subject.isEmpty && notice.channel == .email, "\(notice.name)")
            // A `#` that does not start a tag would be sent as it is; the catalog has none.
            let hashes = (notice.subject + notice.body).filter { $0 == "#" }.count
            let tags = MessageTemplate.tags(in: notice.subject).count + MessageTemplate.tags(in: notice.body).count
            #expect(hashes == tags, "\(notice.name): a # that is no tag")
        }
    }

    @Test("an invitation lists one signed link per answer between its greeting and the lead's page")
    func invitation() {
        let text = NoticeCatalog.text(
            NoticeCatalog.referralReceived,
            [
                "source.name": "Source Co", "lead.name": "Rosa", "answer.links": "Accept: https://h.test/a\nDecline: https://h.test/d",
                "lead.url": "https://h.test/leads/1",
            ])
        #expect(text.subject == "New referral: Rosa")
        #expect(
            text.body
                == "Source Co referred Rosa to you.\n\nAccept: https://h.test/a\nDecline: https://h.test/d\n\nOpen it in HubNet: https://h.test/leads/1\n")
    }

    @Test("a sign-in email states the link's own lifetime")
    func signIn() {
        let text = NoticeCatalog.text(
            NoticeCatalog.signIn, ["tenant.name": "Bay Hub", "sign_in.link": "https://h.test/sign-in/link?token=t", "sign_in.minutes": "15"])
        #expect(text.subject == "Sign in to HubNet: Bay Hub")
        #expect(text.body.contains("\n\nhttps://h.test/sign-in/link?token=t\n\n"))
        #expect(text.body.hasSuffix("It works once, within 15 minutes. If you did not ask to sign in, ignore this email."))
    }

    @Test("a tag left without a value becomes empty, so no #tag reaches a reader")
    func missingValues() {
        for notice in NoticeCatalog.all {
            let text = NoticeCatalog.text(notice, [:])
            #expect(MessageTemplate.tags(in: text.subject + text.body).isEmpty, "\(notice.name)")
        }
    }
}
