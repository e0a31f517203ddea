import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A `hubnet` process (by default `hubnet serve`) that its starter kills, stops and restarts: the
/// simulator's server when a scenario kills it, and the process drills of the tests. Its standard
/// error goes to `logFile`, to read when something went wrong.
public final class ServerProcess: @unchecked Sendable {
    public let pid: pid_t
    public let logFile: String

    /// The `hubnet` binary running now, when this process is one (`hubnet simulate`).
    public static var currentExecutable: String? {
        let path = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments.first
        return path.flatMap { URL(fileURLWithPath: $0).lastPathComponent == "hubnet" ? $0 : nil }
    }

    public init(binary: String, environment: [String: String], arguments: [String] = ["serve"]) throws {
        guard FileManager.default.isExecutableFile(atPath: binary) else {
            throw NSError(domain: "hubnet", code: 1, userInfo: [NSLocalizedDescriptionKey: "no hubnet binary at \(binary): build it first"])
        }
        logFile = NSTemporaryDirectory() + "hubnet-server-\(UUID().uuidString.prefix(8)).log"
        var env = ProcessInfo.processInfo.environment
        for (key, value) in environment { env[key] = value }
        let arguments = [binary] + arguments
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 2, logFile, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        var cArguments = arguments.map { strdup($0) } + [nil]
        var cEnvironment = env.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            cArguments.forEach { free($0) }
            cEnvironment.forEach { free($0) }
        }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, binary, &actions, nil, &cArguments, &cEnvironment)
        guard result == 0 else { throw NSError(domain: "posix_spawn", code: Int(result)) }
        self.pid = pid
    }

    private var exitStatus: Int32?

    /// Whether the process is still running (reaps it once it has exited).
    public var isAlive: Bool {
        guard exitStatus == nil else { return false }
        var status: Int32 = 0
        if waitpid(pid, &status, WNOHANG) == pid {
            exitStatus = status
            return false
        }
        return true
    }

    /// The code it exited with; `nil` while it runs or when a signal ended it.
    public var exitCode: Int32? {
        guard !isAlive, let exitStatus, exitStatus & 0x7f == 0 else { return nil }
        return (exitStatus >> 8) & 0xff
    }

    /// What the process wrote to standard error so far.
    public var log: String { (try? String(contentsOfFile: logFile, encoding: .utf8)) ?? "" }

    /// Kills it with SIGKILL, as a crash or the OOM killer would, and waits until it is gone.
    public func kill9() {
        guard isAlive else { return }
        _ = Glibc.kill(pid, SIGKILL)
        var status: Int32 = 0
        _ = waitpid(pid, &status, 0)
        exitStatus = status
    }

    /// Asks it to stop (SIGTERM) and waits until it has.
    public func stop() {
        guard isAlive else { return }
        _ = Glibc.kill(pid, SIGTERM)
        var status: Int32 = 0
        _ = waitpid(pid, &status, 0)
        exitStatus = status
    }

    /// A port nobody listens on now.
    public static func freePort() -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}
