import HubNetPostgres
import Testing

@Suite("SQL script splitting")
struct SQLScriptTests {
    @Test("statements split at semicolons outside quotes, comments and dollar bodies")
    func splits() {
        let script = """
            -- a comment; not a statement
            CREATE TABLE a (x TEXT DEFAULT 'semi;colon');
            /* block; /* nested; */ still comment */ SELECT "odd;name" FROM a;
            DO $$ BEGIN PERFORM 1; END $$;
            CREATE FUNCTION f() RETURNS INT LANGUAGE sql AS $body$ SELECT 1; $body$;
            SELECT 'it''s; fine', $1
            """
        let statements = SQLScript.statements(in: script)
        #expect(statements.count == 5)
        #expect(statements[0].hasSuffix("DEFAULT 'semi;colon')"))
        #expect(statements[2] == "DO $$ BEGIN PERFORM 1; END $$")
        #expect(statements[3].hasSuffix("$body$ SELECT 1; $body$"))
        #expect(statements[4] == "SELECT 'it''s; fine', $1")
    }

    @Test("a script of only comments has no statements")
    func onlyComments() {
        #expect(SQLScript.statements(in: "-- nothing\n\n-- here;\n").isEmpty)
    }
}
