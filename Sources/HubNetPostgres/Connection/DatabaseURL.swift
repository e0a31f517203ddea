import Foundation
import HubNetCore
import PostgresNIO

/// A PostgreSQL connection string: `postgres://user:password@host:port/database?sslmode=require`,
/// or a Unix socket as `postgres://user@/database?host=/path/to/socket-dir`.
public struct DatabaseURL: Sendable, Equatable, CustomStringConvertible {
    public enum TLSMode: String, Sendable { case disable, prefer, require }

    public var host: String?
    public var port: Int
    /// Directory of the server's Unix socket (PostgreSQL names the file inside it).
    public var socketDirectory: String?
    public var username: String
    public var password: String?
    public var database: String
    public var tls: TLSMode

    public init(
        host: String? = "127.0.0.1", port: Int = 5432, socketDirectory: String? = nil, username: String,
        password: String? = nil, database: String, tls: TLSMode = .disable
    ) {
        self.host = host
        self.port = port
        self.socketDirectory = socketDirectory
        self.username = username
        self.password = password
        self.database = database
        self.tls = tls
    }

    /// Parses a connection string; the error names what is wrong without echoing the password.
    public init(_ string: String) throws(ConfigurationError) {
        guard let components = URLComponents(string: string),
            let scheme = components.scheme, scheme == "postgres" || scheme == "postgresql"
        else { throw ConfigurationError("a database URL must look like postgres://user:password@host:5432/database") }
        let query = Dictionary(
            (components.queryItems ?? []).map { ($0.name, $0.value ?? "") }, uniquingKeysWith: { _, last in last })
        guard let user = components.percentEncodedUser.flatMap({ $0.removingPercentEncoding }), !user.isEmpty else {
            throw ConfigurationError("the database URL names no user")
        }
        let database = String(components.percentEncodedPath.dropFirst()).removingPercentEncoding ?? ""
        guard !database.isEmpty else { throw ConfigurationError("the database URL names no database") }
        let tls: TLSMode
        switch query["sslmode"] ?? "prefer" {
        case "disable", "allow": tls = .disable
        case "prefer": tls = .prefer
        case "require", "verify-ca", "verify-full": tls = .require
        case let other: throw ConfigurationError("unknown sslmode '\(other)' in the database URL")
        }
        self.username = user
        self.password = components.percentEncodedPassword?.removingPercentEncoding
        self.database = database
        self.port = components.port ?? 5432
        if let socket = query["host"], socket.hasPrefix("/") {
            self.socketDirectory = socket
            self.host = nil
            self.tls = .disable
        } else {
            guard let host = components.host, !host.isEmpty else {
                throw ConfigurationError("the database URL names no host")
            }
            self.host = host
            self.socketDirectory = nil
            self.tls = tls
        }
    }

    /// The same server and credentials, another database.
    public func with(database: String) -> DatabaseURL {
        var copy = self
        copy.database = database
        return copy
    }

    /// The same server and database, another role (passwordless, e.g. over a trusted socket).
    public func with(username: String, password: String? = nil) -> DatabaseURL {
        var copy = self
        copy.username = username
        copy.password = password
        return copy
    }

    /// The URL with the password masked, safe for logs.
    public var description: String {
        var components = URLComponents()
        components.scheme = "postgres"
        components.user = username
        if password != nil { components.password = "***" }
        components.host = host ?? ""
        if socketDirectory == nil { components.port = port }
        components.path = "/\(database)"
        if let socketDirectory { components.queryItems = [URLQueryItem(name: "host", value: socketDirectory)] }
        return components.string ?? "postgres://\(username)@…/\(database)"
    }

    /// The URL with its password, for handing to a child process's environment.
    public var connectionString: String {
        var components = URLComponents()
        components.scheme = "postgres"
        components.user = username
        components.password = password
        components.host = host ?? ""
        if socketDirectory == nil { components.port = port }
        components.path = "/\(database)"
        if let socketDirectory { components.queryItems = [URLQueryItem(name: "host", value: socketDirectory)] }
        return components.string ?? description
    }

    /// A client configuration for PostgresNIO.
    public func clientConfiguration(maximumConnections: Int = 20) throws -> PostgresClient.Configuration {
        var configuration: PostgresClient.Configuration
        if let socketDirectory {
            configuration = .init(
                unixSocketPath: "\(socketDirectory)/.s.PGSQL.\(port)", username: username, password: password,
                database: database)
        } else {
            let tlsConfiguration: PostgresClient.Configuration.TLS
            switch tls {
            case .disable: tlsConfiguration = .disable
            case .prefer: tlsConfiguration = .prefer(.makeClientConfiguration())
            case .require: tlsConfiguration = .require(.makeClientConfiguration())
            }
            configuration = .init(
                host: host ?? "127.0.0.1", port: port, username: username, password: password, database: database,
                tls: tlsConfiguration)
        }
        configuration.options.maximumConnections = maximumConnections
        configuration.options.connectTimeout = .seconds(5)
        return configuration
    }
}

/// A configuration value that cannot be used; the message is one line for the operator.
public struct ConfigurationError: Error, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
