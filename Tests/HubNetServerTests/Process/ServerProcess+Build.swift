import Foundation
import HubNetSimulator

extension ServerProcess {
    /// The binary the test command built (`swift build --build-tests` builds it beside the tests).
    static var binary: String {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        return root.appendingPathComponent(".build/debug/hubnet").path
    }

    /// `hubnet` (by default `hubnet serve`) of the built binary.
    convenience init(environment: [String: String], arguments: [String] = ["serve"]) throws {
        try self.init(binary: Self.binary, environment: environment, arguments: arguments)
    }
}
