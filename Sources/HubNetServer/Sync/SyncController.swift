import Foundation
import Hummingbird
import HubNetCore
import HubNetPostgres
import NIOCore
import ServiceLifecycle

/// The sync protocol over HTTP, for device tokens: push mutations, pull changes, take a snapshot,
/// and a live channel (server-sent events) that pokes the device when its tenant's log grows.
/// Also the tenant's sync settings.
struct SyncController {
    let push: SyncPush
    let pull: SyncPull
    let sync: PostgresSyncRepository
    let database: Database
    let notifier: SyncNotifier
    let heartbeat: Duration
    let now: @Sendable () -> Date

    func addRoutes(to group: RouterGroup<AppRequestContext>) {
        group.post("sync/push", use: pushMutations)
        group.get("sync/pull", use: pullChanges)
        group.get("sync/snapshot", use: snapshot)
        group.get("sync/live", use: live)
        group.get("tenant/settings", use: settings)
        group.put("tenant/settings", use: saveSettings)
    }

    /// Pushes a batch: refused whole (422) only when its envelope is malformed; each mutation gets
    /// its own outcome otherwise.
    @Sendable func pushMutations(_ request: Request, context: AppRequestContext) async throws -> PushResponse {
        let (caller, device) = try requireDevice(context)
        let envelope = try await request.decodeJSON(PushEnvelope.self, context: context, decoder: Self.wireDecoder)
        let result = try await push.push(envelope.items, caller: caller, device: device, now: now(), logger: context.logger)
        context.logger.info(
            "sync push", metadata: ["mutations": "\(envelope.items.count)", "last_mutation_id": "\(result.lastMutationID)"])
        return PushResponse(results: result.outcomes, lastMutationId: result.lastMutationID)
    }

    /// Sync bodies name their snake_case keys; no key strategy.
    static let wireDecoder = JSONDecoder()

    @Sendable func pullChanges(_ request: Request, context: AppRequestContext) async throws -> Response {
        let (caller, device) = try requireDevice(context)
        guard let cursor = request.uri.queryParameters.get("cursor") else {
            throw DomainError.invalid("cursor", "is required; a new device takes a snapshot first (GET /v1/sync/snapshot)")
        }
        let limit = try limit(request)
        let answer = try await pull.pull(after: cursor, limit: limit, caller: caller, device: device)
        var buffer = ByteBuffer()
        buffer.reserveCapacity(256 + answer.changes.count * 700)
        buffer.writeString(
            "{\"cursor\":\(SyncJSON.string(answer.cursor?.description)),\"reset\":\(SyncJSON.string(answer.reset?.rawValue)),"
                + "\"has_more\":\(answer.hasMore),\"last_mutation_id\":\(answer.lastMutationID),\"changes\":")
        SyncJSON.write(answer.changes, into: &buffer)
        buffer.writeStaticString("}")
        return json(buffer)
    }

    @Sendable func snapshot(_ request: Request, context: AppRequestContext) async throws -> Response {
        let (caller, device) = try requireDevice(context)
        let page = try await pull.snapshot(
            page: request.uri.queryParameters.get("page"), limit: try limit(request), caller: caller, device: device)
        var buffer = ByteBuffer()
        buffer.reserveCapacity(256 + page.records.count * 700)
        buffer.writeString(
            "{\"cursor\":\(SyncJSON.string(page.cursor.description)),\"next\":\(SyncJSON.string(page.next)),"
                + "\"last_mutation_id\":\(page.lastMutationID),\"changes\":")
        SyncJSON.write(page.records, into: &buffer)
        buffer.writeStaticString("}")
        return json(buffer)
    }

    /// Server-sent events: `event: poke` whenever the tenant's log grows (the device then pulls),
    /// and a comment line every heartbeat so proxies keep the connection open.
    @Sendable func live(_ request: Request, context: AppRequestContext) async throws -> Response {
        let (caller, _) = try requireDevice(context)
        return Self.eventStream(notifier.subscribe(caller.tenantID), heartbeat: heartbeat)
    }

    /// A server-sent event stream of the tenant's pokes (`event: poke`), with heartbeats; devices
    /// use it to pull when something changed, the web console to offer a refresh.
    static func eventStream(_ pokes: AsyncStream<Void>, heartbeat: Duration) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "text/event-stream"
        headers[.cacheControl] = "no-cache"
        return Response(
            status: .ok, headers: headers,
            body: ResponseBody { writer in
                try await writer.write(ByteBuffer(string: ": connected\n\n"))
                let (events, continuation) = AsyncStream.makeStream(of: String.self)
                // Ends on server shutdown and after a bounded lifetime (clients reconnect), so a
                // connected device never holds a stopping server open.
                try await withGracefulShutdownHandler {
                    try await withThrowingTaskGroup(of: Void.self) { group in
                        group.addTask {
                            for await _ in pokes { continuation.yield("event: poke\ndata: {}\n\n") }
                            continuation.finish()
                        }
                        group.addTask {
                            for _ in 0..<Self.heartbeatsPerConnection {
                                try await Task.sleep(for: heartbeat)
                                continuation.yield(": heartbeat\n\n")
                            }
                            continuation.finish()
                        }
                        for await event in events { try await writer.write(ByteBuffer(string: event)) }
                        group.cancelAll()
                    }
                } onGracefulShutdown: {
                    continuation.finish()
                }
                try await writer.finish(nil)
            })
    }

    /// A live connection lasts this many heartbeats (about five minutes), then the client reconnects.
    static let heartbeatsPerConnection = 20

    struct Settings: ResponseEncodable, Decodable {
        /// How late (seconds) an action taken offline before a deadline may arrive and still count.
        var offlineGraceSeconds: Int
    }

    @Sendable func settings(_ request: Request, context: AppRequestContext) async throws -> Settings {
        let caller = try context.requireUser()
        return Settings(
            offlineGraceSeconds: try await database.withTenant(caller.tenantID) { transaction in
                try await sync.offlineGrace(in: transaction)
            })
    }

    @Sendable func saveSettings(_ request: Request, context: AppRequestContext) async throws -> Settings {
        let caller = try context.requireUser()
        guard caller.has(.admin) else { throw DomainError.forbidden("only an admin may change the tenant's settings") }
        let body = try await request.decodeJSON(Settings.self, context: context)
        return try await save(body, caller: caller)
    }

    /// Stores the tenant's settings, as the API and the web console do (admins only).
    func save(_ settings: Settings, caller: AuthenticatedUser) async throws -> Settings {
        guard caller.has(.admin) else { throw DomainError.forbidden("only an admin may change the tenant's settings") }
        try await database.withTenant(caller.tenantID) { transaction in
            try await sync.setOfflineGrace(settings.offlineGraceSeconds, in: transaction)
        }
        return settings
    }

    private func requireDevice(_ context: AppRequestContext) throws -> (AuthenticatedUser, Device.ID) {
        let caller = try context.requireUser()
        guard let device = caller.deviceID else {
            throw DomainError.forbidden("sync needs a device token (POST /v1/devices)", code: "device_token_required")
        }
        return (caller, device)
    }

    private func limit(_ request: Request) throws -> Int {
        guard let text = request.uri.queryParameters.get("limit") else { return SyncPull.defaultLimit }
        guard let value = Int(text), (1...SyncPull.maximumLimit).contains(value) else {
            throw DomainError.invalid("limit", "must be a number from 1 to \(SyncPull.maximumLimit)")
        }
        return value
    }

    private func json(_ buffer: ByteBuffer) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json; charset=utf-8"
        return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: buffer))
    }
}

/// A push's answer names its snake_case keys (`PushResponse.CodingKeys`, `MutationOutcome`'s), so it
/// is encoded without the API's key strategy, which would convert every key of every outcome again:
/// the same bytes, in a fraction of the time.
extension PushResponse: ResponseGenerator {
    static let wireEncoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return encoder
    }()

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json; charset=utf-8"
        let body = ByteBuffer(bytes: try Self.wireEncoder.encode(self))
        return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: body))
    }
}
