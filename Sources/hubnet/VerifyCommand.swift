import ArgumentParser
import Foundation
import HubNetCore

/// `hubnet verify FILE`: checks an evidence bundle offline (no server, no database) and says what,
/// if anything, was altered. Exit status 0 when intact, 1 when not, 2 when the file cannot be read.
struct VerifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Check a referral's evidence bundle offline: its history chain, each part's digest, its signature.",
        discussion: """
            Get a bundle with GET /v1/referrals/{id}/evidence. Pass the signer's published key
            (GET /v1/organizations/{id}/signing-key, its public_key) with --public-key to check that
            the bundle was signed by that organisation and not re-signed with another key.
            """)

    @Argument(help: "The evidence bundle (JSON), or - for standard input.") var file: String
    @Option(help: "The signer's Ed25519 public key, base64 (as published).") var publicKey: String?
    @Flag(help: "Print the result as JSON.") var json = false

    func run() throws {
        let bytes: [UInt8]
        do {
            bytes = file == "-" ? Array(FileHandle.standardInput.readDataToEndOfFile()) : Array(try Data(contentsOf: URL(fileURLWithPath: file)))
        } catch {
            FileHandle.standardError.write(Data("hubnet verify: cannot read \(file): \(error.localizedDescription)\n".utf8))
            throw ExitCode(2)
        }
        var trusted: [UInt8]?
        if let publicKey {
            guard let raw = Data(base64Encoded: publicKey), raw.count == 32 else {
                FileHandle.standardError.write(Data("hubnet verify: --public-key must be a base64 Ed25519 public key (32 bytes)\n".utf8))
                throw ExitCode(2)
            }
            trusted = Array(raw)
        }
        let result = EvidenceVerification.verify(bytes, trustedKey: trusted)
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
            say(String(decoding: try encoder.encode(result), as: UTF8.self))
        } else {
            say("evidence bundle \(file)" + (result.referral.map { " (referral \($0))" } ?? ""))
            for check in result.checks { say("  \(check.ok ? "ok     " : "ALTERED") \(check.name): \(check.detail)") }
            say(result.intact ? "Intact: nothing was altered." : "NOT intact: see the lines marked ALTERED.")
        }
        if !result.intact { throw ExitCode(1) }
    }
}
