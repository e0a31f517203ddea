import Foundation

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
        let wait = timeToFirstAction
        out.append("")
        out.append("Time to first action (\(wait.leads) leads): p50 \(wait.p50Hours) h, p90 \(wait.p90Hours) h, p99 \(wait.p99Hours) h")
        out.append(
            "Sync: \(stats.syncs) syncs, \(stats.pushes) pushes of \(stats.mutations) mutations, \(stats.pulls) pulls of \(stats.changesPulled) changes, "
                + "\(stats.edits) field edits (\(stats.doubleEdits) by two people in one hour), \(stats.conflicts) conflicts, \(stats.viewChanges) view changes, \(stats.rejections) rejections, \(stats.resets) resets, \(stats.drops) drops, \(stats.offlineSpells) offline spells, \(stats.deviceWipes) device wipes")
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

    /// A self-contained HTML page: the summary and four charts as inline SVG.
    public func html() -> String {
        func escape(_ text: String) -> String {
            text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
        }
        let funnelChart = Self.barChart(
            title: "Funnel per workflow",
            groups: funnels.map { ($0.template, [Double($0.created), Double($0.acted), Double($0.accepted), Double($0.completed), Double($0.expired)]) },
            series: ["created", "acted", "accepted", "completed", "expired"])
        let dailyChart = Self.barChart(
            title: "Daily arrivals and actions", groups: daily.map { ("d\($0.day)", [Double($0.arrivals), Double($0.actions)]) },
            series: ["arrivals", "actions"])
        let waitChart = Self.barChart(
            title: "Time to first action",
            groups: zip(Self.histogramLabels, timeToFirstAction.histogram).map { ($0, [Double($1)]) }, series: ["leads"])
        let syncChart = Self.barChart(
            title: "Sync traffic per day", groups: daily.map { ("d\($0.day)", [Double($0.mutations), Double($0.changes)]) },
            series: ["mutations pushed", "changes pulled"])
        return """
            <!doctype html>
            <html lang="en"><head><meta charset="utf-8"><title>HubNet simulation \(escape(scenario)) (seed \(seed))</title>
            <style>body{font-family:system-ui,sans-serif;margin:2rem;max-width:70rem}pre{background:#f6f6f6;padding:1rem;overflow:auto}
            svg{margin:1rem 0;background:#fff;border:1px solid #ddd}</style></head><body>
            <h1>HubNet simulation: \(escape(scenario))</h1>
            \(funnelChart)
            \(dailyChart)
            \(waitChart)
            \(syncChart)
            <h2>Summary</h2><pre>\(escape(summary))</pre>
            </body></html>
            """
    }

    static let palette = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2"]

    /// Grouped vertical bars with a legend.
    static func barChart(title: String, groups: [(String, [Double])], series: [String]) -> String {
        let width = 900.0
        let height = 260.0
        let top = 40.0
        let bottom = 40.0
        let left = 50.0
        let maximum = max(1, groups.flatMap(\.1).max() ?? 1)
        let groupWidth = (width - left - 10) / Double(max(1, groups.count))
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
        parts.append("<text x=\"4\" y=\"\(Int(top) + 10)\" font-size=\"10\">\(Int(maximum))</text>")
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
        parts.append("<line x1=\"\(Int(left))\" y1=\"\(Int(top + plot))\" x2=\"\(Int(width - 10))\" y2=\"\(Int(top + plot))\" stroke=\"#333\"/>")
        parts.append("</svg>")
        return parts.joined(separator: "\n")
    }
}
