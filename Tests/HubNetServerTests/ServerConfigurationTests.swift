import HubNetPostgres
import HubNetServer
import Testing

@Suite("Server configuration from the environment")
struct ServerConfigurationTests {
    @Test("HUBNET_DELIVERY_CONCURRENCY: 4 unless set, 1 to 64, anything else refused at start with the variable named")
    func deliveryConcurrency() throws {
        #expect(try ServerConfiguration(environment: [:]).deliveryConcurrency == 4)
        #expect(try ServerConfiguration(environment: ["HUBNET_DELIVERY_CONCURRENCY": "1"]).deliveryConcurrency == 1)
        #expect(try ServerConfiguration(environment: ["HUBNET_DELIVERY_CONCURRENCY": "64"]).deliveryConcurrency == 64)
        for bad in ["0", "65", "-3", "four", "99999999999999999999999"] {
            let error = #expect(throws: ConfigurationError.self) {
                try ServerConfiguration(environment: ["HUBNET_DELIVERY_CONCURRENCY": bad])
            }
            #expect(error?.description.contains("HUBNET_DELIVERY_CONCURRENCY") == true, "\(bad)")
        }
    }

    @Test("HUBNET_ACTION_GROUP_SIZE: 64 unless set, 1 (each action alone) to 1,000, anything else refused at start with the variable named")
    func actionGroupSize() throws {
        #expect(try ServerConfiguration(environment: [:]).actionGroupSize == 64)
        #expect(try ServerConfiguration(environment: ["HUBNET_ACTION_GROUP_SIZE": "1"]).actionGroupSize == 1)
        #expect(try ServerConfiguration(environment: ["HUBNET_ACTION_GROUP_SIZE": "1000"]).actionGroupSize == 1000)
        for bad in ["0", "1001", "-1", "many", "99999999999999999999999"] {
            let error = #expect(throws: ConfigurationError.self) {
                try ServerConfiguration(environment: ["HUBNET_ACTION_GROUP_SIZE": bad])
            }
            #expect(error?.description.contains("HUBNET_ACTION_GROUP_SIZE") == true, "\(bad)")
        }
    }

    @Test("HUBNET_CREDENTIAL_BATCH_SIZE: 64 unless set, 1 (each credential alone) to 1,000, anything else refused at start with the variable named")
    func credentialBatchSize() throws {
        #expect(try ServerConfiguration(environment: [:]).credentialBatchSize == 64)
        #expect(try ServerConfiguration(environment: ["HUBNET_CREDENTIAL_BATCH_SIZE": "1"]).credentialBatchSize == 1)
        #expect(try ServerConfiguration(environment: ["HUBNET_CREDENTIAL_BATCH_SIZE": "1000"]).credentialBatchSize == 1000)
        for bad in ["0", "1001", "-1", "many", "99999999999999999999999"] {
            let error = #expect(throws: ConfigurationError.self) {
                try ServerConfiguration(environment: ["HUBNET_CREDENTIAL_BATCH_SIZE": bad])
            }
            #expect(error?.description.contains("HUBNET_CREDENTIAL_BATCH_SIZE") == true, "\(bad)")
        }
    }
}
