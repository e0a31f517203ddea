import Foundation
import HTTPTypes
import Hummingbird
import HubNetCore
import HubNetPostgres
import Mustache

/// The console's HTML: the Mustache templates and static assets bundled with the server, loaded
/// once at start-up. Every page goes out with headers that keep it out of caches and frames and
/// allow scripts, styles and form targets from this server only.
struct ConsoleRenderer: Sendable {
    let library: MustacheLibrary
    let assets: [String: (contentType: String, body: ByteBuffer)]

    init() throws {
        guard let templates = Bundle.module.url(forResource: "Templates", withExtension: nil),
            let assets = Bundle.module.url(forResource: "Assets", withExtension: nil)
        else { throw ConfigurationError("the console's templates are missing from this build") }
        var library = MustacheLibrary()
        for file in try FileManager.default.contentsOfDirectory(atPath: templates.path) where file.hasSuffix(".mustache") {
            let text = try String(contentsOf: templates.appendingPathComponent(file), encoding: .utf8)
            try library.register(text, named: String(file.dropLast(".mustache".count)))
        }
        self.library = library
        var loaded: [String: (String, ByteBuffer)] = [:]
        for file in try FileManager.default.contentsOfDirectory(atPath: assets.path) {
            let data = try Data(contentsOf: assets.appendingPathComponent(file))
            let type =
                file.hasSuffix(".css") ? "text/css; charset=utf-8"
                : file.hasSuffix(".js") ? "text/javascript; charset=utf-8" : "application/octet-stream"
            loaded[file] = (type, ByteBuffer(bytes: data))
        }
        self.assets = loaded
    }

    static let securityHeaders: [(HTTPField.Name, String)] = [
        (.cacheControl, "no-store"),
        (HTTPField.Name("X-Frame-Options")!, "DENY"),
        (HTTPField.Name("X-Content-Type-Options")!, "nosniff"),
        (HTTPField.Name("Referrer-Policy")!, "same-origin"),
        (
            HTTPField.Name("Content-Security-Policy")!,
            "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
        ),
    ]

    func page(_ template: String, _ view: Any, status: HTTPResponse.Status = .ok) -> Response {
        let html = library.render(view, withTemplate: template) ?? "<!doctype html><title>HubNet</title><p>This page is missing.</p>"
        var headers = HTTPFields()
        headers[.contentType] = "text/html; charset=utf-8"
        for (name, value) in Self.securityHeaders { headers[name] = value }
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: html)))
    }

    func asset(_ name: String) -> Response? {
        guard let asset = assets[name] else { return nil }
        var headers = HTTPFields()
        headers[.contentType] = asset.contentType
        headers[.cacheControl] = "public, max-age=300"
        headers[HTTPField.Name("X-Content-Type-Options")!] = "nosniff"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: asset.body))
    }

    static func redirect(_ location: String) -> Response {
        var headers = HTTPFields()
        headers[.location] = location
        headers[.cacheControl] = "no-store"
        return Response(status: .seeOther, headers: headers)
    }
}
