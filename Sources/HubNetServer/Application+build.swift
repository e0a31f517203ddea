import Hummingbird
import HubNetCore
import HubNetPostgres
import Logging
import PostgresNIO
import Prometheus
import ServiceLifecycle

/// The HTTP application: routes, middleware, and the database pool as a managed service.
///
/// Start-up refuses to serve while migrations are pending or altered, or while the database role
/// could see past row-level security.
public func buildApplication(
    configuration: ServerConfiguration, databaseURL: DatabaseURL, logger: Logger,
    registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry(),
    onServerRunning: @escaping @Sendable (_ port: Int) async -> Void = { _ in }
) throws -> some ApplicationProtocol {
    let client = PostgresClient(
        configuration: try databaseURL.clientConfiguration(maximumConnections: configuration.databasePoolSize),
        backgroundLogger: logger.forPool)
    let database = Database(client: client, logger: logger, limits: configuration.databaseLimits)
    let notifier = SyncNotifier()
    let router = try buildRouter(configuration: configuration, database: database, registry: registry, notifier: notifier)
    var application = Application(
        router: router,
        configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "hubnet"),
        services: [
            client, SyncListener(client: client, notifier: notifier, logger: logger),
            DatabaseMonitor(database: database, configuration: try databaseURL.connectionConfiguration(), interval: .seconds(1)),
        ]
            + (configuration.timerInterval.map {
                [
                    LeadTimerService(
                        database: database, now: configuration.now, interval: $0, links: configuration.emailLinks,
                        gate: configuration.testClock?.passes)
                ] as [any Service]
            } ?? [])
            + (configuration.deliveryInterval.map {
                [
                    OutboxDeliveryService(
                        database: database, smtp: configuration.smtp, retry: configuration.retryPolicy, now: configuration.now,
                        interval: $0, gate: configuration.testClock?.passes, concurrency: configuration.deliveryConcurrency)
                ] as [any Service]
            } ?? []),
        onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? 0) },
        logger: logger)
    application.beforeServerStarts {
        try await verifyDatabase(client: client, logger: logger)
    }
    return application
}

/// Checks that the schema is current and that the server's role cannot bypass tenant isolation.
public func verifyDatabase(client: PostgresClient, logger: Logger) async throws {
    let status = try await Migrator(client: client, migrations: try Migration.bundled(), logger: logger).status()
    if let problem = status.servingProblem { throw ConfigurationError(problem) }
    try await DatabaseRoles.verifyServerConnection(client, logger: logger)
}

/// All routes and middleware; separate from the application so tests can list the routes.
public func buildRouter(
    configuration: ServerConfiguration, database: Database, registry: PrometheusCollectorRegistry,
    notifier: SyncNotifier = SyncNotifier()
) throws -> Router<AppRequestContext> {
    let router = Router(context: AppRequestContext.self)
    let routeTable = MethodNotAllowedMiddleware.Table()
    router.add(middleware: RequestLogMiddleware(maximumBodyBytes: configuration.maximumBodyBytes, timings: configuration.requestTimings))
    router.add(middleware: MetricsMiddleware(registry: registry))
    router.add(middleware: ErrorMiddleware())
    router.add(middleware: MethodNotAllowedMiddleware(table: routeTable))
    router.add(middleware: FormQueryMiddleware())

    let logger = database.logger
    let tenants = PostgresTenantRepository(database: database)
    let tokens = PostgresAPITokenRepository(logger: logger)
    let listings = PostgresListingRepository(logger: logger)

    OperationsController(database: database, registry: registry, testClock: configuration.testClock).addRoutes(to: router)
    let api = router.group("v1")
    DirectoryController(
        database: database, listings: listings, distribution: PostgresDistributionRepository(logger: logger), now: configuration.now
    ).addRoutes(to: api)
    EmailActionController(database: database, links: configuration.emailLinks, now: configuration.now).addRoutes(to: api)
    LeadFormController(
        database: database, listings: listings, leads: PostgresLeadRepository(logger: logger),
        templates: PostgresWorkflowTemplateRepository(logger: logger), privacy: PostgresPrivacyRepository(logger: logger),
        limiter: RateLimiter(limit: configuration.leadFormSubmissionsPerMinute),
        trustForwardedFor: configuration.trustForwardedFor, now: configuration.now
    ).addRoutes(to: api)

    let credentialChecks = CredentialChecks(
        database: database, tokens: tokens, devices: PostgresDeviceRepository(logger: logger), now: configuration.now,
        maximumBatch: configuration.credentialBatchSize)
    let authenticated = router.group("v1")
        .add(
            middleware: AuthenticationMiddleware(checks: credentialChecks, operatorToken: configuration.operatorToken))
    TenantController(database: database, tenants: tenants, tokens: tokens).addRoutes(to: authenticated)
    TestClockController(
        clock: configuration.testClock, timers: LeadTimerService(database: database, now: configuration.now, links: configuration.emailLinks),
        delivery: OutboxDeliveryService(
            database: database, smtp: configuration.smtp, retry: configuration.retryPolicy, now: configuration.now,
            concurrency: configuration.deliveryConcurrency)
    ).addRoutes(to: authenticated)
    let userController = UserController(database: database, users: PostgresUserRepository(logger: logger), now: configuration.now)
    userController.addRoutes(to: authenticated)
    APITokenController(database: database, tokens: tokens, users: PostgresUserRepository(logger: logger), now: configuration.now)
        .addRoutes(to: authenticated)
    let deviceController = DeviceController(database: database, devices: PostgresDeviceRepository(logger: logger), now: configuration.now)
    deviceController.addRoutes(to: authenticated)
    UnitController(database: database, units: PostgresUnitRepository(logger: logger)).addRoutes(to: authenticated)
    let listingController = ListingController(database: database, listings: listings, tenants: tenants)
    listingController.addRoutes(to: authenticated)
    let commands = LeadCommands(database: database, links: configuration.emailLinks)
    let leadController = LeadController(
        database: database, leads: PostgresLeadRepository(logger: logger), notes: PostgresLeadNoteRepository(logger: logger),
        activities: PostgresLeadActivityRepository(logger: logger), templates: PostgresWorkflowTemplateRepository(logger: logger),
        users: PostgresUserRepository(logger: logger), opportunities: PostgresOpportunityRepository(logger: logger),
        types: PostgresLeadTypeRepository(logger: logger), referrals: PostgresReferralRepository(logger: logger),
        listings: listings, links: configuration.emailLinks, outbox: PostgresOutboxRepository(logger: logger),
        commands: commands, idempotencyKeys: PostgresIdempotencyKeyRepository(logger: logger),
        privacy: PostgresPrivacyRepository(logger: logger),
        actions: LeadActionGroups(
            commands: commands, database: database, now: configuration.now, maximumGroup: configuration.actionGroupSize),
        now: configuration.now)
    leadController.addRoutes(to: authenticated)
    let sync = PostgresSyncRepository(logger: logger)
    let syncController = SyncController(
        push: SyncPush(database: database, sync: sync, commands: commands, maximumAttempts: configuration.syncMaximumAttempts), pull: SyncPull(database: database, sync: sync, privacy: PostgresPrivacyRepository(logger: logger), now: configuration.now),
        sync: sync, database: database, notifier: notifier, heartbeat: configuration.liveHeartbeat, now: configuration.now)
    syncController.addRoutes(to: authenticated)
    let referralController = ReferralController(
        database: database, referrals: PostgresReferralRepository(logger: logger), leads: PostgresLeadRepository(logger: logger),
        tenants: tenants, listings: listings, links: configuration.emailLinks, commands: commands, now: configuration.now)
    referralController.addRoutes(to: authenticated)
    DistributionController(
        database: database, distribution: PostgresDistributionRepository(logger: logger), referrals: PostgresReferralRepository(logger: logger),
        leads: PostgresLeadRepository(logger: logger), listings: listings, commands: commands, links: configuration.emailLinks,
        now: configuration.now
    ).addRoutes(to: authenticated)
    PrivacyController(
        database: database, leads: PostgresLeadRepository(logger: logger), notes: PostgresLeadNoteRepository(logger: logger),
        activities: PostgresLeadActivityRepository(logger: logger), templates: PostgresWorkflowTemplateRepository(logger: logger),
        privacy: PostgresPrivacyRepository(logger: logger), now: configuration.now
    ).addRoutes(to: authenticated)
    let referralAccess = ReferralAccess(referrals: PostgresReferralRepository(logger: logger), tenants: tenants)
    let evidence = EvidenceController(
        database: database, access: referralAccess, leads: PostgresLeadRepository(logger: logger), listings: listings,
        keys: PostgresSigningKeyRepository(logger: logger), now: configuration.now)
    evidence.addRoutes(to: authenticated)
    evidence.addPublicRoutes(to: api)
    let fhir = router.group("fhir")
        .add(middleware: FHIRErrorMiddleware())
        .add(
            middleware: AuthenticationMiddleware(checks: credentialChecks, operatorToken: configuration.operatorToken))
    FHIRController(
        database: database, access: referralAccess, leads: PostgresLeadRepository(logger: logger), listings: listings,
        baseURL: configuration.emailLinks.baseURL
    ).addRoutes(to: fhir)
    let crmController = CRMController(
        database: database, clients: PostgresClientRepository(logger: logger), opportunities: PostgresOpportunityRepository(logger: logger),
        users: PostgresUserRepository(logger: logger), now: configuration.now)
    crmController.addRoutes(to: authenticated)
    let messageTemplateController = MessageTemplateController(
        database: database, templates: PostgresMessageTemplateRepository(logger: logger),
        workflows: PostgresWorkflowTemplateRepository(logger: logger), leads: PostgresLeadRepository(logger: logger), tenants: tenants)
    messageTemplateController.addRoutes(to: authenticated)
    let webhookController = WebhookController(
        database: database, webhooks: PostgresWebhookRepository(logger: logger), outbox: PostgresOutboxRepository(logger: logger),
        now: configuration.now
    )
    webhookController.addRoutes(to: authenticated)
    let reportController = ReportController(
        database: database, templates: PostgresWorkflowTemplateRepository(logger: logger),
        reports: PostgresReportRepository(logger: logger), now: configuration.now)
    reportController.addRoutes(to: authenticated)
    ConsoleController(
        database: database, sessions: PostgresConsoleSessionRepository(logger: logger), outbox: PostgresOutboxRepository(logger: logger),
        templates: PostgresWorkflowTemplateRepository(logger: logger), leads: leadController, referrals: referralController,
        reports: reportController, devices: deviceController, messageTemplates: messageTemplateController, users: userController, webhooks: webhookController,
        crm: crmController, listings: listingController, sync: syncController,
        tenants: tenants, notifier: notifier, heartbeat: configuration.liveHeartbeat, renderer: try ConsoleRenderer(),
        settings: .init(
            baseURL: configuration.emailLinks.baseURL, printSignInLinks: configuration.printSignInLinks,
            secureCookies: configuration.emailLinks.baseURL.hasPrefix("https://")),
        addressLimiter: RateLimiter(limit: 20), emailLimiter: RateLimiter(limit: 5),
        trustForwardedFor: configuration.trustForwardedFor, now: configuration.now
    ).addRoutes(to: router)
    routeTable.record(router.routes.map { ("\($0.path)", $0.method) })
    return router
}
