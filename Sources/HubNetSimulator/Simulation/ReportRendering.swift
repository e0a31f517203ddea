import Foundation
import HubNetServer

extension SimulationReport {
    /// The readable summary printed at the end of `hubnet simulate`.
    public var summary: String {
        var out: [String] = []
        out.append("Simulation \(scenario) (seed \(seed), \(days) virtual days)")
        out.append("")
        out.append(row(["organisation", "kind", "leads in", "accepted", "declined", "referred", "expired", "converted"], widths))
        for line in organisations {
            out.append(
                row(
                    [line.name, line.kind, "\(line.leadsIn)", "\(line.accepted)", "\(line.declined)", "\(line.referred)", "\(line.expired)", "\(line.converted)"],
                    widths))
        }
        out.append("")
        out.append("Funnels (created → acted → accepted → completed; expired)")
        for funnel in funnels {
            out.append("  \(funnel.template.padding(toLength: 16, withPad: " ", startingAt: 0)) \(funnel.created) → \(funnel.acted) → \(funnel.accepted) → \(funnel.completed); \(funnel.expired) expired")
        }
        if let largest = flows.max(by: { ($0.referred, $1.from, $1.to) < ($1.referred, $0.from, $0.to) }) {
            out.append("")
            out.append(
                "Referrals between organisations: \(flows.reduce(0) { $0 + $1.referred }) between \(flows.count) pairs; the most: "
                    + "\(largest.from) → \(largest.to), \(largest.referred) (\(largest.accepted) accepted, \(largest.declined) declined)")
        }
        let wait = timeToFirstAction
        out.append("")
        out.append("Time to first action (\(wait.leads) leads): p50 \(wait.p50Hours) h, p90 \(wait.p90Hours) h, p99 \(wait.p99Hours) h")
        out.append(
            "Sync: \(stats.syncs) syncs, \(stats.pushes) pushes of \(stats.mutations) mutations, \(stats.pulls) pulls of \(stats.changesPulled) changes (\(stats.snapshotRecords) of them records of snapshots; \(stats.pullsNotPoked) due devices not poked, so not pulling), "
                + "\(stats.edits) field edits (\(stats.doubleEdits) by two people in one hour), \(stats.conflicts) conflicts, \(stats.viewChanges) view changes, \(stats.rejections) rejections, \(stats.resets) resets, \(stats.drops) drops, \(stats.offlineSpells) offline spells, \(stats.deviceWipes) device wipes, \(stats.clocksAhead) device clocks ahead and \(stats.clocksBehind) behind")
        if stats.databaseRestarts + stats.deviceRevocations + stats.userDeactivations + stats.serverKills > 0 {
            out.append(
                "Faults: PostgreSQL crashed and restarted \(stats.databaseRestarts) times (\(stats.refusedWhileDatabaseDown) requests refused with 503 while down); "
                    + "the server killed and restarted \(stats.serverKills) times (\(stats.failedWhileServerDown) device syncs failed while it was gone); "
                    + "\(stats.deviceRevocations) devices revoked while offline (\(stats.revokedSyncsRefused) syncs refused with 401, each device then registered again); "
                    + "\(stats.userDeactivations) people deactivated while offline (\(stats.deactivatedSyncsRefused) device syncs refused with 401, a successor in each place)")
        }
        if stats.routed + stats.unroutable > 0 {
            out.append("Distribution: \(stats.routed) leads routed by rule, \(stats.pullbacks) pulled back and routed on, \(stats.unroutable) with no partner available")
        }
        if !stats.rejectionCodes.isEmpty {
            out.append("  rejections by code: " + stats.rejectionCodes.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
        }
        if !stats.byAction.isEmpty {
            out.append("  actions taken: " + stats.byAction.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
        }
        if !stats.refusedOnDevice.isEmpty {
            out.append(
                "  chosen but refused on the device: "
                    + stats.refusedOnDevice.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
        }
        out.append("Notifications: \(emailsDelivered) emails delivered (\(deliveryRetries) attempts retried, mail receiver down \(stats.smtpOutageHours) h); source parties tried to act \(stats.sourceAttempts) times, refused \(stats.sourceRefusals)")
        out.append("")
        for invariant in invariants {
            out.append("\(invariant.held ? "✔" : "✘") \(invariant.name)")
            for violation in invariant.violations.prefix(10) { out.append("    \(violation)") }
            if invariant.violations.count > 10 { out.append("    … and \(invariant.violations.count - 10) more") }
        }
        out.append("")
        out.append(allInvariantsHeld ? "All invariants held." : "INVARIANTS VIOLATED: \(invariants.filter { !$0.held }.count) of \(invariants.count).")
        return out.joined(separator: "\n")
    }

    private var widths: [Int] { [18, 16, 9, 9, 9, 9, 8, 10] }

    private func row(_ cells: [String], _ widths: [Int]) -> String {
        zip(cells, widths).enumerated().map { index, pair in
            index < 2 ? pair.0.padding(toLength: pair.1, withPad: " ", startingAt: 0)
                : String(repeating: " ", count: max(0, pair.1 - pair.0.count)) + pair.0
        }.joined(separator: " ")
    }

    public func json() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        return String(decoding: try encoder.encode(self), as: UTF8.self)
    }

    /// A self-contained HTML page: the verdict, charts as inline SVG (funnels, days, waits, sync
    /// traffic, the referral flows between organisations) and every figure of the summary as tables,
    /// each invariant with the entities that broke it.
    /// The report as a page. `latency`: the server's own request timings of this run (those behind
    /// its `Server-Timing` header), shown per route; they vary from run to run, so they are on the
    /// page only, never in the JSON report that two runs of one seed must share byte for byte.
    public func html(latency: [String: RequestTimings.Route]? = nil) -> String {
        let funnelChart = Self.barChart(
            title: "Funnel per workflow",
            groups: funnels.map { ($0.template, [Double($0.created), Double($0.acted), Double($0.accepted), Double($0.completed), Double($0.expired)]) },
            series: ["created", "acted", "accepted", "completed", "expired"], xLabel: "workflow", yLabel: "leads")
        let dailyChart = Self.barChart(
            title: "Daily arrivals and actions", groups: daily.map { ("d\($0.day)", [Double($0.arrivals), Double($0.actions)]) },
            series: ["arrivals", "actions"], xLabel: "virtual day", yLabel: "count")
        let waitChart = Self.barChart(
            title: "Time to first action",
            groups: zip(Self.histogramLabels, timeToFirstAction.histogram).map { ($0, [Double($1)]) }, series: ["leads"],
            xLabel: "hours from arrival to the first action", yLabel: "leads")
        let syncChart = Self.barChart(
            title: "Sync traffic per day", groups: daily.map { ("d\($0.day)", [Double($0.mutations), Double($0.changes), Double($0.snapshotRecords)]) },
            series: ["mutations pushed", "changes pulled", "of them records of snapshots"], xLabel: "virtual day", yLabel: "count")
        let verdict =
            allInvariantsHeld
            ? "<p class=\"held\">All \(invariants.count) invariants held.</p>"
            : "<p class=\"broken\">Invariants violated: \(invariants.filter { !$0.held }.count) of \(invariants.count).</p>"
        let organisationTable = Self.table(
            ["organisation", "kind", "leads in", "accepted", "declined", "referred", "expired", "converted"],
            organisations.map { [$0.name, $0.kind, "\($0.leadsIn)", "\($0.accepted)", "\($0.declined)", "\($0.referred)", "\($0.expired)", "\($0.converted)"] })
        let funnelTable = Self.table(
            ["workflow", "created", "acted", "accepted", "completed", "expired"],
            funnels.map { [$0.template, "\($0.created)", "\($0.acted)", "\($0.accepted)", "\($0.completed)", "\($0.expired)"] })
        let flowTable = Self.table(
            ["from", "to", "referred", "accepted", "declined"],
            flows.map { [$0.from, $0.to, "\($0.referred)", "\($0.accepted)", "\($0.declined)"] })
        var figures: [[String]] = [
            ["time to first action", "p50 \(timeToFirstAction.p50Hours) h, p90 \(timeToFirstAction.p90Hours) h, p99 \(timeToFirstAction.p99Hours) h (\(timeToFirstAction.leads) leads)"],
            ["syncs", "\(stats.syncs)"], ["pushes", "\(stats.pushes) (\(stats.mutations) mutations)"],
            ["pulls", "\(stats.pulls) (\(stats.changesPulled) changes, \(stats.snapshotRecords) of them records of snapshots; \(stats.pullsNotPoked) due devices not poked, so not pulling)"], ["field edits", "\(stats.edits) (\(stats.doubleEdits) by two people in one hour)"],
            ["conflicts", "\(stats.conflicts)"], ["view changes", "\(stats.viewChanges)"], ["rejections", "\(stats.rejections)"],
            ["resets", "\(stats.resets)"], ["drops", "\(stats.drops)"], ["offline spells", "\(stats.offlineSpells)"],
            ["device wipes", "\(stats.deviceWipes)"],
            ["devices revoked while offline", "\(stats.deviceRevocations) (\(stats.revokedSyncsRefused) syncs refused with 401, then registered again)"],
            ["people deactivated while offline", "\(stats.userDeactivations) (\(stats.deactivatedSyncsRefused) device syncs refused with 401, a successor in each place)"],
            ["server kills", "\(stats.serverKills) (\(stats.failedWhileServerDown) device syncs failed while it was gone)"],
            ["database crashes", "\(stats.databaseRestarts) (\(stats.refusedWhileDatabaseDown) requests refused with 503 while down)"], ["device clocks ahead / behind", "\(stats.clocksAhead) / \(stats.clocksBehind)"],
            ["emails delivered", "\(emailsDelivered) (\(deliveryRetries) attempts retried, mail receiver down \(stats.smtpOutageHours) h)"],
            ["source parties", "tried to act \(stats.sourceAttempts) times, refused \(stats.sourceRefusals)"],
            ["distribution", "\(stats.routed) routed by rule, \(stats.pullbacks) pulled back, \(stats.unroutable) unroutable"],
        ]
        for (name, counts) in [("rejections by code", stats.rejectionCodes), ("actions taken", stats.byAction), ("chosen but refused on the device", stats.refusedOnDevice)]
        where !counts.isEmpty {
            figures.append([name, counts.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")])
        }
        let invariantList = invariants.map { (invariant: InvariantResult) -> String in
            let mark = invariant.held ? "<span class=\"held\">✔</span>" : "<span class=\"broken\">✘</span>"
            guard !invariant.violations.isEmpty else { return "<li>\(mark) \(Self.escape(invariant.name))</li>" }
            let shown = invariant.violations.prefix(50).map { "<li>\(Self.escape($0))</li>" }.joined()
            let more = invariant.violations.count > 50 ? "<li>… and \(invariant.violations.count - 50) more</li>" : ""
            return "<li>\(mark) \(Self.escape(invariant.name))<ul>\(shown)\(more)</ul></li>"
        }.joined(separator: "\n")
        return """
            <!doctype html>
            <html lang="en"><head><meta charset="utf-8"><title>HubNet simulation \(Self.escape(scenario)) (seed \(seed))</title>
            <style>body{font-family:system-ui,sans-serif;margin:2rem;max-width:70rem}
            table{border-collapse:collapse;margin:0.5rem 0 1.5rem}th,td{border-bottom:1px solid #ddd;padding:0.2rem 0.6rem;text-align:right}
            th:first-child,td:first-child,th:nth-child(2),td:nth-child(2){text-align:left}th{background:#f3f3f3}
            .held{color:#2a7a2a}.broken{color:#b00020;font-weight:bold}
            svg{margin:1rem 0;background:#fff;border:1px solid #ddd}</style></head><body>
            <h1>HubNet simulation: \(Self.escape(scenario))</h1>
            <p>Seed \(seed), \(days) virtual days.</p>
            \(verdict)
            <h2>Invariants</h2><ul>
            \(invariantList)
            </ul>
            <h2>Organisations</h2>
            \(organisationTable)
            <h2>Funnels</h2>
            \(funnelChart)
            \(funnelTable)
            <h2>Referrals between organisations</h2>
            \(Self.flowChart(flows))
            \(flowTable)
            <h2>Days</h2>
            \(dailyChart)
            \(waitChart)
            \(syncChart)
            <h2>Sync and notifications</h2>
            \(Self.table(["figure", "value"], figures))
            \(latency.map(Self.latencySection) ?? "")
            </body></html>
            """
    }

    /// Latency per route, busiest first: requests, p50/p90/p99/max and the database's share of the time.
    static func latencySection(_ routes: [String: RequestTimings.Route]) -> String {
        func millis(_ duration: Duration) -> String { String(format: "%.1f", duration.seconds * 1000) }
        let rows = routes.sorted { ($0.value.count, $1.key) > ($1.value.count, $0.key) }.map { route, figures -> [String] in
            let share = figures.total == .zero ? 0 : 100 * figures.database.seconds / figures.total.seconds
            return [
                route, "\(figures.count)", millis(figures.percentile(0.5)), millis(figures.percentile(0.9)), millis(figures.percentile(0.99)),
                millis(figures.percentile(1)), String(format: "%.0f%%", share),
            ]
        }
        return """
            <h2>Server latency per route</h2>
            <p>From the server's own request timings in this run (the figures behind its <code>Server-Timing</code> header), in
            milliseconds of wall time. They vary from run to run and are not part of the JSON report.</p>
            \(table(["route", "requests", "p50 ms", "p90 ms", "p99 ms", "max ms", "database"], rows))
            """
    }

    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
            .replacingOccurrences(of: "\"", with: "&quot;")
    }

    static func table(_ header: [String], _ rows: [[String]]) -> String {
        let head = "<tr>" + header.map { "<th>\(escape($0))</th>" }.joined() + "</tr>"
        let body = rows.map { "<tr>" + $0.map { "<td>\(escape($0))</td>" }.joined() + "</tr>" }.joined(separator: "\n")
        return "<table>\n\(head)\n\(body)\n</table>"
    }

    /// Who refers to whom: senders on the left, receivers on the right, a band per pair as wide as
    /// its referrals, coloured by the share accepted (the 25 largest pairs; every pair is in the table).
    static func flowChart(_ flows: [Flow]) -> String {
        let shown = flows.sorted { ($1.referred, $0.from, $0.to) < ($0.referred, $1.from, $1.to) }.prefix(25)
        guard !shown.isEmpty else { return "<p>No referrals between organisations.</p>" }
        let senders = Array(Set(shown.map(\.from))).sorted()
        let receivers = Array(Set(shown.map(\.to))).sorted()
        let rowHeight = 22.0
        let height = 60 + rowHeight * Double(max(senders.count, receivers.count))
        let (left, right) = (200.0, 700.0)
        let widest = Double(shown.map(\.referred).max() ?? 1)
        func y(_ index: Int) -> Double { 50 + rowHeight * Double(index) }
        var parts = ["<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"900\" height=\"\(Int(height))\">"]
        parts.append("<text x=\"10\" y=\"20\" font-size=\"14\" font-weight=\"bold\">Referral flows (band width: referrals; colour: share accepted)</text>")
        parts.append("<text x=\"\(Int(left) - 10)\" y=\"38\" font-size=\"11\" text-anchor=\"end\">sent by</text>")
        parts.append("<text x=\"\(Int(right) + 10)\" y=\"38\" font-size=\"11\">received by</text>")
        for flow in shown {
            guard let from = senders.firstIndex(of: flow.from), let to = receivers.firstIndex(of: flow.to) else { continue }
            let share = flow.referred == 0 ? 0 : Double(flow.accepted) / Double(flow.referred)
            let colour = "hsl(\(Int(share * 120)),60%,45%)"
            let width = 1 + 9 * Double(flow.referred) / widest
            parts.append(
                "<line x1=\"\(Int(left))\" y1=\"\(Int(y(from)))\" x2=\"\(Int(right))\" y2=\"\(Int(y(to)))\" stroke=\"\(colour)\" stroke-width=\"\(Self.decimal(width))\" "
                    + "stroke-opacity=\"0.7\"><title>\(escape(flow.from)) → \(escape(flow.to)): \(flow.referred) referred, \(flow.accepted) accepted, \(flow.declined) declined</title></line>")
        }
        for (index, name) in senders.enumerated() {
            parts.append("<text x=\"\(Int(left) - 6)\" y=\"\(Int(y(index)) + 4)\" font-size=\"11\" text-anchor=\"end\">\(escape(name))</text>")
        }
        for (index, name) in receivers.enumerated() {
            parts.append("<text x=\"\(Int(right) + 6)\" y=\"\(Int(y(index)) + 4)\" font-size=\"11\">\(escape(name))</text>")
        }
        parts.append("</svg>")
        return parts.joined(separator: "\n")
    }

    static func decimal(_ value: Double) -> String { String(format: "%.1f", value) }

    static let palette = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2"]

    /// Grouped vertical bars with a legend.
    static func barChart(title: String, groups: [(String, [Double])], series: [String], xLabel: String, yLabel: String) -> String {
        let width = 900.0
        let height = 260.0
        let top = 40.0
        let bottom = 40.0
        let left = 50.0
        // The value axis runs to a round number in round steps (1, 2 or 5 times a power of ten).
        let largest = max(1, groups.flatMap(\.1).max() ?? 1)
        let rough = largest / 4
        let magnitude = pow(10, (log10(rough)).rounded(.down))
        let step = magnitude * (rough <= magnitude ? 1 : rough <= 2 * magnitude ? 2 : rough <= 5 * magnitude ? 5 : 10)
        let ticks = Int((largest / step).rounded(.up))
        let maximum = step * Double(ticks)
        let right = width - 170  // the legend stands right of the plot
        let groupWidth = (right - left) / Double(max(1, groups.count))
        let barWidth = max(1, groupWidth * 0.8 / Double(max(1, series.count)))
        var parts: [String] = ["<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\">"]
        parts.append("<text x=\"\(Int(left))\" y=\"20\" font-size=\"14\" font-weight=\"bold\">\(title)</text>")
        for (index, name) in series.enumerated() {
            let x = Int(width) - 160
            let y = 14 + index * 14
            parts.append("<rect x=\"\(x)\" y=\"\(y - 9)\" width=\"10\" height=\"10\" fill=\"\(palette[index % palette.count])\"/>")
            parts.append("<text x=\"\(x + 14)\" y=\"\(y)\" font-size=\"11\">\(name)</text>")
        }
        let plot = height - top - bottom
        // The value axis: a tick and a grid line per step; then both axes' names.
        for tick in 0...ticks {
            let value = step * Double(tick)
            let y = top + plot - plot * Double(tick) / Double(ticks)
            parts.append("<line x1=\"\(Int(left))\" y1=\"\(decimal(y))\" x2=\"\(Int(right))\" y2=\"\(decimal(y))\" stroke=\"#eee\"/>")
            parts.append("<text x=\"\(Int(left) - 4)\" y=\"\(decimal(y + 3))\" font-size=\"10\" text-anchor=\"end\">\(value < 10 && value != value.rounded() ? decimal(value) : "\(Int(value.rounded()))")</text>")
        }
        parts.append("<line x1=\"\(Int(left))\" y1=\"\(Int(top))\" x2=\"\(Int(left))\" y2=\"\(Int(top + plot))\" stroke=\"#333\"/>")
        parts.append("<text x=\"12\" y=\"\(Int(top + plot / 2))\" font-size=\"11\" text-anchor=\"middle\" transform=\"rotate(-90 12 \(Int(top + plot / 2)))\">\(yLabel)</text>")
        parts.append("<text x=\"\(Int((left + right) / 2))\" y=\"\(Int(height - 6))\" font-size=\"11\" text-anchor=\"middle\">\(xLabel)</text>")
        for (groupIndex, group) in groups.enumerated() {
            let x0 = left + Double(groupIndex) * groupWidth + groupWidth * 0.1
            for (seriesIndex, value) in group.1.enumerated() {
                let barHeight = plot * value / maximum
                parts.append(
                    "<rect x=\"\(String(format: "%.1f", x0 + Double(seriesIndex) * barWidth))\" y=\"\(String(format: "%.1f", top + plot - barHeight))\" "
                        + "width=\"\(String(format: "%.1f", barWidth))\" height=\"\(String(format: "%.1f", barHeight))\" fill=\"\(palette[seriesIndex % palette.count])\"><title>\(group.0) \(series[seriesIndex]): \(Int(value))</title></rect>")
            }
            if groups.count <= 40 || groupIndex % 5 == 0 {
                parts.append("<text x=\"\(String(format: "%.1f", x0))\" y=\"\(Int(height - bottom + 14))\" font-size=\"10\">\(group.0)</text>")
            }
        }
        parts.append("<line x1=\"\(Int(left))\" y1=\"\(Int(top + plot))\" x2=\"\(Int(right))\" y2=\"\(Int(top + plot))\" stroke=\"#333\"/>")
        parts.append("</svg>")
        return parts.joined(separator: "\n")
    }
}
