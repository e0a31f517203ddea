import Foundation
import Hummingbird
import NIOCore
import HubNetCore
import HubNetPostgres

/// Act from an email: a signed, single-use, expiring link lets a target accept or decline a referred
/// lead without logging in. Opening the link shows a page (so mail scanners that follow links change
/// nothing); the page's form posts the answer. Used, expired and altered links get a clear page.
struct EmailActionController {
    let database: Database
    let links: EmailActionLinks
    let now: @Sendable () -> Date
    private let leads: PostgresLeadRepository
    private let templates: PostgresWorkflowTemplateRepository
    private let referrals: PostgresReferralRepository
    private let users: PostgresUserRepository
    private let store: PostgresEmailActionLinkRepository

    init(database: Database, links: EmailActionLinks, now: @escaping @Sendable () -> Date) {
        self.database = database
        self.links = links
        self.now = now
        self.leads = PostgresLeadRepository(logger: database.logger)
        self.templates = PostgresWorkflowTemplateRepository(logger: database.logger)
        self.referrals = PostgresReferralRepository(logger: database.logger)
        self.users = PostgresUserRepository(logger: database.logger)
        self.store = PostgresEmailActionLinkRepository(logger: database.logger)
    }

    func addRoutes(to group: RouterGroup<AppRequestContext>) {
        group.get("email-actions/{token}", use: show)
        group.post("email-actions/{token}", use: perform)
    }

    /// A refusal shown as a page.
    struct PageError: Error {
        var status: HTTPResponse.Status
        var title: String
        var message: String
    }

    @Sendable func show(_ request: Request, context: AppRequestContext) async throws -> Response {
        do {
            let (token, link, lead) = try await check(context)
            let label = link.action == "accept" ? "Accept" : "Decline"
            let reasonField = link.action == "decline"
                ? #"<p><label>Why are you declining?<br><textarea name="reason" required rows="4" cols="50"></textarea></label></p>"# : ""
            return page(
                .ok, "\(label) \(lead.details.name)?",
                """
                <p>\(escape(lead.details.name))\(lead.details.city.map { " (\(escape($0)))" } ?? ""): \(escape(lead.details.request ?? ""))</p>
                <form method="post" action="\(escape(links.url(for: token)))">\(reasonField)<button type="submit">\(label)</button></form>
                """)
        } catch let error as PageError {
            return page(error.status, error.title, "<p>\(escape(error.message))</p>")
        }
    }

    @Sendable func perform(_ request: Request, context: AppRequestContext) async throws -> Response {
        let form: ByteBuffer
        do {
            form = try await request.body.collect(upTo: 16_384)
        } catch is NIOTooManyBytesError {
            return page(.contentTooLarge, "Too much text", "<p>The form sent more than this page accepts.</p>")
        }
        let reason = Self.formValue("reason", in: String(buffer: form))
        do {
            let now = now()
            let (token, _, lead) = try await check(context)
            let status: String = try await database.withTenant(token.tenantID) { transaction in
                // Lock the link, then re-check it inside the transaction: two clicks, one answer.
                guard let link = try await store.lock(token.linkID, in: transaction) else {
                    throw PageError(status: .notFound, title: "Link not found", message: "This link does not exist.")
                }
                try Self.requireUsable(link, now: now)
                guard let user = try await users.get(link.userID, in: transaction), user.isActive,
                    let current = try await leads.get(lead.id, lock: true, in: transaction),
                    // Acting requires seeing, by email link too.
                    VisibilityPolicy.sees(current, user: user.id, roles: user.roles),
                    let template = try await templates.template(current.templateKey, in: transaction)
                else { throw PageError(status: .gone, title: "Lead unavailable", message: "This lead is no longer yours to answer.") }
                let actor = WorkflowActor(userID: user.id, roles: user.roles, side: .owner)
                let decision: WorkflowEngine.Decision
                do {
                    decision = try WorkflowEngine.decide(
                        template, lead: current.state, actor: actor, action: link.action, input: ActionInput(reason: reason), now: now)
                } catch let refusal as WorkflowRefusal {
                    let status: HTTPResponse.Status = refusal.code == .reasonRequired ? .unprocessableContent : .conflict
                    throw PageError(status: status, title: "Not possible", message: refusal.message)
                }
                try await leads.apply(decision, to: current, template: template, actor: user.id, reason: reason, at: now, in: transaction)
                try await store.markUsed(link.id, now: now, in: transaction)
                if let updated = try await leads.get(lead.id, in: transaction) {
                    try await referrals.mirror(
                        updated, template: template, reason: reason,
                        notifying: decision.effects.contains(.notifyReferralCreator) ? decision.action : nil, now: now, in: transaction)
                }
                return template.status(decision.to)?.name ?? decision.to
            }
            return page(.ok, "Done", "<p>\(escape(lead.details.name)) is now \(escape(status)). Thank you.</p>")
        } catch let error as PageError {
            return page(error.status, error.title, "<p>\(escape(error.message))</p>")
        }
    }

    /// The token's link and lead, or the page that explains why not.
    private func check(_ context: AppRequestContext) async throws -> (EmailActionToken, PostgresEmailActionLinkRepository.Link, Lead) {
        guard let text = context.parameters.get("token"), let token = EmailActionToken(verifying: text, with: links.key) else {
            throw PageError(status: .notFound, title: "Link not valid", message: "This link is not one we sent, or it was changed.")
        }
        let now = now()
        return try await database.withTenant(token.tenantID) { transaction in
            guard let link = try await store.lock(token.linkID, in: transaction) else {
                throw PageError(status: .notFound, title: "Link not found", message: "This link does not exist.")
            }
            try Self.requireUsable(link, now: now)
            guard let lead = try await leads.get(link.leadID, in: transaction) else {
                throw PageError(status: .gone, title: "Lead unavailable", message: "This lead is no longer yours to answer.")
            }
            return (token, link, lead)
        }
    }

    static func requireUsable(_ link: PostgresEmailActionLinkRepository.Link, now: Date) throws {
        if link.usedAt != nil { throw PageError(status: .gone, title: "Link already used", message: "This link was already used.") }
        if link.expiresAt <= now { throw PageError(status: .gone, title: "Link expired", message: "This link has expired; answer in HubNet instead.") }
    }

    static func formValue(_ name: String, in body: String) -> String? {
        for pair in body.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1)
            if parts.count == 2, parts[0] == name {
                return String(parts[1]).replacingOccurrences(of: "+", with: " ").removingPercentEncoding
            }
        }
        return nil
    }

    private func page(_ status: HTTPResponse.Status, _ title: String, _ body: String) -> Response {
        let html = """
            <!doctype html><html lang="en"><head><meta charset="utf-8"><title>\(escape(title)) · HubNet</title></head>
            <body><h1>\(escape(title))</h1>\(body)</body></html>
            """
        var headers = HTTPFields()
        headers[.contentType] = "text/html; charset=utf-8"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: html)))
    }

    private func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }
}
