// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "HubNet",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "hubnet", targets: ["hubnet"]),
        .library(name: "HubNetCore", targets: ["HubNetCore"]),
        .library(name: "HubNetServer", targets: ["HubNetServer"]),
        .library(name: "HubNetTestSupport", targets: ["HubNetTestSupport"]),
        .library(name: "HubNetSync", targets: ["HubNetSync"]),
        .library(name: "HubNetSimulator", targets: ["HubNetSimulator"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/swiftcsv/SwiftCSV", from: "0.10.0"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-extras", from: "1.35.2"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/x-sheep/swift-property-based", from: "2.0.1"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.2.0"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache", from: "2.1.1"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
    ],
    targets: [
        // The domain: typed IDs, entities, validation, policies, the history chain and evidence. No I/O.
        .target(name: "HubNetCore", dependencies: [.product(name: "Crypto", package: "swift-crypto")]),
        // PostgreSQL store: migrator (reads sql/), repositories, embedded cluster launcher.
        .target(
            name: "HubNetPostgres",
            dependencies: [
                "HubNetCore",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ],
            resources: [.copy("Migrations")]
        ),
        // Hummingbird application: controllers, middleware, the OpenAPI document.
        .target(
            name: "HubNetServer",
            dependencies: [
                "HubNetCore",
                "HubNetPostgres",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "SwiftCSV", package: "SwiftCSV"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOExtras", package: "swift-nio-extras"),
                .product(name: "Mustache", package: "swift-mustache"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            resources: [.copy("openapi.json"), .copy("Console/Templates"), .copy("Console/Assets")]
        ),
        // The client SDK for offline devices: a local SQLite store (GRDB), the pending-mutation
        // queue, optimistic application through the core's workflow engine, and the sync loop.
        .target(
            name: "HubNetSync",
            dependencies: [
                "HubNetCore",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),
        // The network simulator and the benchmarks: a real server on loopback, SDK devices, a
        // virtual clock, invariant checks and reports.
        .target(
            name: "HubNetSimulator",
            dependencies: [
                "HubNetCore", "HubNetPostgres", "HubNetServer", "HubNetSync",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOExtras", package: "swift-nio-extras"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ]
        ),
        // Throwaway PostgreSQL, per-suite databases from a template, tenant fixtures.
        .target(
            name: "HubNetTestSupport",
            dependencies: [
                "HubNetCore",
                "HubNetPostgres",
                "HubNetServer",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        // The command-line tool: wiring only.
        .executableTarget(
            name: "hubnet",
            dependencies: [
                "HubNetCore",
                "HubNetPostgres",
                "HubNetServer",
                "HubNetSimulator",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "HubNetCoreTests",
            dependencies: [
                "HubNetCore", "HubNetTestSupport", .product(name: "PropertyBased", package: "swift-property-based"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        .testTarget(
            name: "HubNetPostgresTests",
            dependencies: ["HubNetPostgres", "HubNetTestSupport", .product(name: "PostgresNIO", package: "postgres-nio")]
        ),
        .testTarget(
            name: "HubNetServerTests",
            dependencies: [
                "HubNetServer", "HubNetTestSupport", "HubNetCore", "HubNetSync", "HubNetPostgres", "HubNetSimulator",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "PropertyBased", package: "swift-property-based"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "GRDB", package: "GRDB.swift"),
            ]
        ),
        .testTarget(
            name: "HubNetSimulatorTests",
            dependencies: [
                "HubNetSimulator", "HubNetTestSupport", "HubNetSync", "HubNetCore", "HubNetPostgres",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "PropertyBased", package: "swift-property-based"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
