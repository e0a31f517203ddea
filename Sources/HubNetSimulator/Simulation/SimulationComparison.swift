import Foundation

/// Two runs of the same network side by side (`hubnet simulate --compare` / `--vary`): how a rule
/// change shows in funnels, expiries, time to first action, load per organisation and emails.
/// Built from the two reports alone, so it is as deterministic as they are.
public struct SimulationComparison: Sendable, Codable, Equatable {
    public struct Row: Sendable, Codable, Equatable {
        public var section: String
        public var label: String
        public var a: Double
        public var b: Double
        public var difference: Double { b - a }
    }

    public var a: SimulationReport
    public var b: SimulationReport
    /// Names for the two sides: the scenarios' names, told apart when they are the same.
    public var nameA: String
    public var nameB: String
    public var rows: [Row]

    public init(_ a: SimulationReport, _ b: SimulationReport, nameA: String? = nil, nameB: String? = nil) {
        self.a = a
        self.b = b
        self.nameA = nameA ?? a.scenario
        self.nameB = nameB ?? (b.scenario == a.scenario ? "\(b.scenario) (varied)" : b.scenario)
        var rows: [Row] = []
        func add(_ section: String, _ label: String, _ a: Double, _ b: Double) { rows.append(Row(section: section, label: label, a: a, b: b)) }
        let templates = Set(a.funnels.map(\.template)).union(b.funnels.map(\.template)).sorted()
        for template in templates {
            let fa = a.funnels.first { $0.template == template }
            let fb = b.funnels.first { $0.template == template }
            for (label, path) in [
                ("created", \SimulationReport.Funnel.created), ("acted", \.acted), ("accepted", \.accepted), ("completed", \.completed),
                ("expired", \.expired),
            ] as [(String, KeyPath<SimulationReport.Funnel, Int>)] {
                add("funnel \(template)", label, Double(fa?[keyPath: path] ?? 0), Double(fb?[keyPath: path] ?? 0))
            }
        }
        add("time to first action", "p50 hours", a.timeToFirstAction.p50Hours, b.timeToFirstAction.p50Hours)
        add("time to first action", "p90 hours", a.timeToFirstAction.p90Hours, b.timeToFirstAction.p90Hours)
        add("time to first action", "leads acted on", Double(a.timeToFirstAction.leads), Double(b.timeToFirstAction.leads))
        let organisations = Set(a.organisations.map(\.name)).union(b.organisations.map(\.name)).sorted()
        for name in organisations {
            let oa = a.organisations.first { $0.name == name }
            let ob = b.organisations.first { $0.name == name }
            add("load per organisation", "\(name) leads in", Double(oa?.leadsIn ?? 0), Double(ob?.leadsIn ?? 0))
            add("load per organisation", "\(name) expired", Double(oa?.expired ?? 0), Double(ob?.expired ?? 0))
        }
        add("notifications", "emails delivered", Double(a.emailsDelivered), Double(b.emailsDelivered))
        add("notifications", "delivery attempts retried", Double(a.deliveryRetries), Double(b.deliveryRetries))
        add("sync", "mutations", Double(a.stats.mutations), Double(b.stats.mutations))
        add("sync", "conflicts", Double(a.stats.conflicts), Double(b.stats.conflicts))
        add("sync", "resets", Double(a.stats.resets), Double(b.stats.resets))
        add("distribution", "routed by rule", Double(a.stats.routed), Double(b.stats.routed))
        add("distribution", "pulled back (SLA)", Double(a.stats.pullbacks), Double(b.stats.pullbacks))
        add("distribution", "no partner available", Double(a.stats.unroutable), Double(b.stats.unroutable))
        let actions = Set(a.stats.byAction.keys).union(b.stats.byAction.keys).sorted()
        for action in actions { add("actions taken", action, Double(a.stats.byAction[action] ?? 0), Double(b.stats.byAction[action] ?? 0)) }
        self.rows = rows
    }

    /// Rows whose two sides differ.
    public var differences: [Row] { rows.filter { $0.a != $0.b } }

    public var allInvariantsHeld: Bool { a.allInvariantsHeld && b.allInvariantsHeld }

    static func format(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : String(format: "%.2f", value)
    }

    /// The side-by-side table: every row, the differing ones marked, then each side's invariants.
    public var summary: String {
        let width = max(24, rows.map { $0.label.count }.max() ?? 0)
        func pad(_ text: String, _ count: Int) -> String { text.padding(toLength: count, withPad: " ", startingAt: 0) }
        func right(_ text: String, _ count: Int) -> String { String(repeating: " ", count: max(0, count - text.count)) + text }
        var out = [
            "Comparison (seed \(a.seed) and \(b.seed), \(a.days) and \(b.days) virtual days)", "  A: \(nameA)", "  B: \(nameB)", "",
        ]
        out.append("  " + pad("", width) + right("A", 12) + right("B", 12) + right("B − A", 12))
        var section = ""
        for row in rows {
            if row.section != section {
                section = row.section
                out.append(section)
            }
            let delta = row.difference == 0 ? "" : (row.difference > 0 ? "+" : "") + Self.format(row.difference)
            out.append(
                (row.a == row.b ? "  " : "* ") + pad(row.label, width) + right(Self.format(row.a), 12) + right(Self.format(row.b), 12)
                    + right(delta, 12))
        }
        out.append("")
        out.append("\(differences.count) of \(rows.count) figures differ (marked *).")
        for (name, report) in [(nameA, a), (nameB, b)] {
            let broken = report.invariants.filter { !$0.held }
            out.append(broken.isEmpty ? "\(name): all invariants held." : "\(name): \(broken.count) invariants broken: \(broken.map(\.name).joined(separator: "; "))")
        }
        return out.joined(separator: "\n")
    }

    public func json() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        return String(decoding: try encoder.encode(self), as: UTF8.self)
    }

    /// A self-contained page: the differing figures charted side by side per section, the table,
    /// and each run's own report below.
    public func html() -> String {
        func escape(_ text: String) -> String {
            text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
        }
        var sections: [String] = []
        for row in differences where !sections.contains(row.section) { sections.append(row.section) }
        let charts = sections.map { section in
            SimulationReport.barChart(
                title: section, groups: differences.filter { $0.section == section }.map { ($0.label, [$0.a, $0.b]) }, series: [nameA, nameB],
                xLabel: "figure", yLabel: "value")
        }
        return """
            <!doctype html>
            <html lang="en"><head><meta charset="utf-8"><title>HubNet comparison: \(escape(nameA)) and \(escape(nameB))</title>
            <style>body{font-family:system-ui,sans-serif;margin:2rem;max-width:70rem}pre{background:#f6f6f6;padding:1rem;overflow:auto}
            svg{margin:1rem 0;background:#fff;border:1px solid #ddd}</style></head><body>
            <h1>HubNet comparison: \(escape(nameA)) and \(escape(nameB))</h1>
            <p>The same network and seed under two scenarios; the charts show the figures that differ.</p>
            \(charts.joined(separator: "\n"))
            <h2>Side by side</h2>
            \(SimulationReport.table(
                ["section", "figure", nameA, nameB, "B − A"],
                rows.map { [$0.section, $0.label, Self.format($0.a), Self.format($0.b), $0.a == $0.b ? "" : Self.format($0.difference)] }))
            <h2>\(escape(nameA))</h2><pre>\(escape(a.summary))</pre>
            <h2>\(escape(nameB))</h2><pre>\(escape(b.summary))</pre>
            </body></html>
            """
    }
}
