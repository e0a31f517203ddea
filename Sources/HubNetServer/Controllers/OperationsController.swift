import Foundation
import Hummingbird
import HubNetPostgres
import Prometheus

/// Liveness, readiness, metrics and the API description: what operators and tooling poll.
struct OperationsController {
    let database: Database
    let registry: PrometheusCollectorRegistry
    let testClock: TestClock?

    func addRoutes(to router: Router<AppRequestContext>) {
        router.get("healthz", use: health)
        router.head("healthz", use: health)
        router.get("readyz", use: ready)
        router.head("readyz", use: ready)
        router.get("metrics", use: metrics)
        router.get("openapi.json", use: openAPI)
    }

    struct Status: ResponseEncodable {
        var status: String
        /// Present when the server runs on a test clock (`--test-clock`): its time.
        var testClockNow: Date?
    }

    /// The process is up.
    @Sendable func health(_ request: Request, context: AppRequestContext) async throws -> Status {
        Status(status: "ok", testClockNow: testClock?.now)
    }

    /// The process can serve: the database answers within the connection wait (`HUBNET_DB_WAIT_MS`).
    @Sendable func ready(_ request: Request, context: AppRequestContext) async throws -> Response {
        // The monitor looks every second; when it has seen the database gone, say so at once.
        let ready = database.availability.isDown ? false : await database.ping()
        var response = try Status(status: ready ? "ready" : "database unreachable", testClockNow: testClock?.now)
            .response(from: request, context: context)
        response.status = ready ? .ok : .serviceUnavailable
        return response
    }

    @Sendable func metrics(_ request: Request, context: AppRequestContext) async throws -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "text/plain; version=0.0.4; charset=utf-8"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: registry.emitToBuffer())))
    }

    @Sendable func openAPI(_ request: Request, context: AppRequestContext) async throws -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json; charset=utf-8"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: try OpenAPIDocument.data())))
    }
}

/// The OpenAPI 3.1 document of the whole API, kept in the repository beside this file.
public enum OpenAPIDocument {
    public static func data() throws -> Data {
        guard let url = Bundle.module.url(forResource: "openapi", withExtension: "json") else {
            throw CocoaError(.fileNoSuchFile)
        }
        return try Data(contentsOf: url)
    }
}
