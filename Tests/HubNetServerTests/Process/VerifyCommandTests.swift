import Foundation
import HubNetSimulator
import HubNetCore
import HubNetTestSupport
import Testing

/// `hubnet verify FILE` on a bundle the API issued: the built binary, its output and exit status.
@Suite("hubnet verify")
struct VerifyCommandTests {
    static func verify(_ arguments: [String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: ServerProcess.binary)
        process.arguments = ["verify"] + arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return (process.terminationStatus, output)
    }

    @Test("an issued bundle is intact (exit 0); one changed byte, or another signer than the published key, is reported as altered (exit 1)")
    func offline() async throws {
        let (bundle, publicKey) = try await withTestApplication { app in
            let sourcing = try await app.fixtures.tenant(.sourcingCompany, users: [[.partnerUser]])
            let partner = try await app.fixtures.tenant(.partnerCompany, users: [[.partnerUser]])
            let other = try await app.fixtures.tenant(.partnerCompany, users: [[.partnerUser]])
            let token = sourcing.users[0].token
            var ids: [String] = []
            for target in [partner, other] {
                let lead = try #require((try await app.request(.post, "/v1/leads", token: token, json: #"{"contact":{"name":"Ada","email":"ada@example.test"},"request":"Grant help"}"#)).json?["id"] as? String)
                let referral = try await app.request(.post, "/v1/leads/\(lead)/referrals", token: token, json: #"{"partner_id":"\#(target.tenant.id)"}"#)
                ids.append(try #require(referral.json?["id"] as? String))
            }
            let bundle = try await app.request(.get, "/v1/referrals/\(ids[0])/evidence", token: token).text
            _ = try await app.request(.get, "/v1/referrals/\(ids[1])/evidence", token: token)
            let keyText = try #require(
                (try await app.request(.get, "/v1/organizations/\(other.tenant.id)/signing-key")).json?["public_key"] as? String)
            return (bundle, keyText)
        }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("verify-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("bundle.json").path
        try Data(bundle.utf8).write(to: URL(fileURLWithPath: file))

        let intact = try Self.verify([file])
        #expect(intact.status == 0, "\(intact.output)")
        #expect(intact.output.contains("Intact: nothing was altered."), "\(intact.output)")

        let json = try Self.verify([file, "--json"])
        let report = try #require(try JSONSerialization.jsonObject(with: Data(json.output.utf8)) as? [String: Any])
        #expect(report["intact"] as? Bool == true)
        #expect(report["entries"] as? Int == 1)

        // The bundle of another partner's key: the signature holds, the trusted key does not.
        let wrongKey = try Self.verify([file, "--public-key", publicKey])
        #expect(wrongKey.status == 1)
        #expect(wrongKey.output.contains("ALTERED trusted key"), "\(wrongKey.output)")

        let altered = directory.appendingPathComponent("altered.json").path
        try Data(bundle.replacingOccurrences(of: #""action":"create""#, with: #""action":"crEate""#).utf8).write(to: URL(fileURLWithPath: altered))
        let broken = try Self.verify([altered])
        #expect(broken.status == 1)
        #expect(broken.output.contains("ALTERED history: entry 1 (crEate) was altered"), "\(broken.output)")
        #expect(broken.output.contains("NOT intact"))

        let missing = try Self.verify([directory.appendingPathComponent("none.json").path])
        #expect(missing.status == 2)
    }
}
