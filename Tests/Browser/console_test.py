"""The web console in a real browser (headless Chromium through Selenium) against the built
`hubnet serve --test-clock` on its embedded PostgreSQL, with sign-in links delivered over real
SMTP to a local receiver. Time moves with the server's own test clock, never with sleeps.

Run by scripts/browser-test; prints one line per check and a summary, exits non-zero on failure.
"""
import asyncio
import json
import os
import re
import sys
import threading
import time
import urllib.request

from aiosmtpd.controller import Controller
from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import Select, WebDriverWait

BASE = os.environ["HUBNET_BASE"]
OPERATOR = os.environ["HUBNET_OPERATOR_TOKEN"]
SCREENSHOTS = os.environ.get("HUBNET_SCREENSHOTS")
checks = []


def check(name, condition, detail=""):
    checks.append((name, bool(condition)))
    print(("ok   " if condition else "FAIL ") + name + ("" if condition or not detail else f" — {detail}"), flush=True)


class Inbox:
    """A real SMTP receiver: every message the server relays."""

    def __init__(self):
        self.messages = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.messages.append((list(envelope.rcpt_tos), envelope.content.decode("utf-8", "replace")))
        return "250 OK"

    def wait_for_link(self, address, seen, timeout=20):
        """The newest sign-in link mailed to `address` after `seen` messages (the outbox delivers each second)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                fresh = [body for rcpts, body in self.messages[seen:] if address in rcpts]
            for body in reversed(fresh):
                match = re.search(r"(http://\S+/sign-in/link\?token=hnl_[A-Za-z0-9_-]+)", body)
                if match:
                    return match.group(1)
            time.sleep(0.1)
        raise AssertionError(f"no sign-in link reached {address}")


def api(method, path, token, body=None):
    request = urllib.request.Request(BASE + path, method=method, data=None if body is None else json.dumps(body).encode())
    request.add_header("Authorization", "Bearer " + token)
    request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request) as response:
            text = response.read().decode()
            return response.status, (json.loads(text) if text else None)
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read().decode() or "null")


def browser(width=1280, height=900):
    options = webdriver.ChromeOptions()
    options.binary_location = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    for flag in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", f"--window-size={width},{height}"]:
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")), options=options)


def sign_in(driver, inbox, address):
    seen = len(inbox.messages)
    driver.get(BASE + "/")
    field = driver.find_element(By.ID, "email")
    field.send_keys(address)
    field.send_keys(Keys.ENTER)
    WebDriverWait(driver, 10).until(EC.presence_of_element_located((By.ID, "sent")))
    driver.get(inbox.wait_for_link(address, seen))
    driver.find_element(By.ID, "continue").click()
    WebDriverWait(driver, 10).until(EC.presence_of_element_located((By.ID, "leads")))


def unlabelled_fields(driver):
    """Form fields a screen reader could not name: no <label for>, no aria-label."""
    return driver.execute_script("""
        return [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
          .filter(f => !(f.id && document.querySelector('label[for="' + f.id + '"]')) && !f.getAttribute('aria-label'))
          .map(f => f.name || f.outerHTML.slice(0, 60));""")


def shot(driver, name):
    if SCREENSHOTS:
        driver.save_screenshot(os.path.join(SCREENSHOTS, name + ".png"))


def main():
    inbox = Inbox()
    smtp = Controller(inbox, hostname="127.0.0.1", port=int(os.environ["HUBNET_SMTP_PORT"]))
    smtp.start()
    # A hub with a moderator and a viewer, and three leads through the API.
    status, hub = api("POST", "/v1/tenants", OPERATOR, {
        "kind": "hub", "name": "Browser Hub", "slug": "browser-hub",
        "admin": {"email": "admin@browser.test", "display_name": "Ada Admin"}})
    assert status == 201, (status, hub)
    admin = hub["admin_token"]
    for email, name, roles in [("mo@browser.test", "Mo Moderator", ["moderator"]), ("vi@browser.test", "Vi Viewer", ["viewer"])]:
        status, _ = api("POST", "/v1/users", admin, {"email": email, "display_name": name, "roles": roles})
        assert status == 201, status
    ids = {}
    for name in ["Rosa Diaz", "Sam Obi", "Lee Park"]:
        # Rosa agreed to her details going to other hubs (she is referred across the network below).
        consent = {"consent": {"scope": "kind", "kind": "hub", "purpose": "referral", "method": "verbal"}} if name == "Rosa Diaz" else {}
        status, lead = api("POST", "/v1/leads", admin, {"contact": {"name": name, "email": name.split()[0].lower() + "@x.test"}, **consent})
        assert status == 201, (status, lead)
        ids[name] = lead["id"]

    driver = browser()
    try:
        sign_in(driver, inbox, "mo@browser.test")
        check("sign-in: the emailed link opens the lead table", driver.current_url.endswith("/leads"))
        rows = driver.find_elements(By.CSS_SELECTOR, "#leads tbody tr[data-lead]")
        check("lead table: the hub's three leads", len(rows) == 3, f"{len(rows)} rows")
        check("lead table: each new lead shows the New badge",
              len(driver.find_elements(By.CSS_SELECTOR, "#leads .badge-new")) == 3)
        check("accessibility: every field of the lead table has a label", unlabelled_fields(driver) == [], unlabelled_fields(driver))
        shot(driver, "leads")
        body = driver.find_element(By.TAG_NAME, "body")
        body.send_keys(Keys.TAB)
        active = driver.switch_to.active_element
        check("keyboard: the first Tab reaches the skip link", active.get_attribute("class") == "skip", active.get_attribute("outerHTML")[:80])
        cookie = driver.get_cookie("hubnet_session")
        check("session cookie: HttpOnly, SameSite=Lax", cookie and cookie["httpOnly"] and cookie.get("sameSite") == "Lax", cookie)

        # Search narrows the table through the API's own filter.
        search = driver.find_element(By.ID, "q")
        search.send_keys("obi")
        search.send_keys(Keys.ENTER)
        WebDriverWait(driver, 10).until(lambda d: "q=obi" in d.current_url)
        names = [e.text for e in driver.find_elements(By.CSS_SELECTOR, "#leads tbody th a")]
        check("filters: searching 'obi' leaves Sam Obi", names == ["Sam Obi"], names)

        # Live refresh: a change by someone else (here through the API) makes the open table offer a refresh.
        notice = driver.find_element(By.ID, "live-notice")
        check("live: no refresh offered while nothing changed", not notice.is_displayed())
        status, _ = api("POST", "/v1/leads/" + ids["Lee Park"] + "/actions/contact", admin, {})
        try:
            WebDriverWait(driver, 15).until(lambda d: d.find_element(By.ID, "live-notice").is_displayed())
            check("live: a change elsewhere makes the open lead table offer a refresh", True)
        except TimeoutException:
            check("live: a change elsewhere makes the open lead table offer a refresh", False, "no notice within 15 s")

        # Acting: exactly the engine's buttons; accept, then a note.
        driver.get(BASE + "/leads/" + ids["Rosa Diaz"])
        buttons = sorted(b.get_attribute("id") for b in driver.find_elements(By.CSS_SELECTOR, "button[id^=act-]"))
        status, api_lead = api("GET", "/v1/leads/" + ids["Rosa Diaz"], admin)
        expected = sorted("act-" + a["key"] for a in api_lead["available_actions"])
        check("lead page: the buttons are the engine's available actions", buttons == expected, f"{buttons} vs {expected}")
        check("accessibility: every field of the lead page has a label", unlabelled_fields(driver) == [], unlabelled_fields(driver))
        shot(driver, "lead")
        driver.find_element(By.ID, "act-contact").click() if "act-contact" in buttons else driver.find_element(By.ID, buttons[0]).click()
        WebDriverWait(driver, 10).until(EC.presence_of_element_located((By.CSS_SELECTOR, "p.notice")))
        status, after = api("GET", "/v1/leads/" + ids["Rosa Diaz"], admin)
        check("lead page: pressing a button moves the lead (seen through the API)", after["status"] != "new", after["status"])
        check("lead page: the page shows the new status", driver.find_element(By.ID, "status").text == after["status_name"])
        note = driver.find_element(By.ID, "note")
        note.send_keys("Called, left a message <b>twice</b>")
        note.submit()
        WebDriverWait(driver, 10).until(EC.presence_of_element_located((By.ID, "notes")))
        check("notes: a note appears as text, never markup", "<b>twice</b>" in driver.find_element(By.ID, "notes").text)

        # A form sent without its session's token (as a forged page would) is refused and changes nothing.
        forged = driver.execute_async_script("""
            const done = arguments[arguments.length - 1];
            fetch(arguments[0], {method: "POST", body: new URLSearchParams({reason: "forged"}), redirect: "manual"})
              .then(r => done(r.status)).catch(e => done(String(e)));""", BASE + "/leads/" + ids["Sam Obi"] + "/actions/decline")
        status, untouched = api("GET", "/v1/leads/" + ids["Sam Obi"], admin)
        check("csrf: a form posted without its token is refused (403) and changes nothing",
              forged == 403 and untouched["status"] == "new", f"{forged}, {untouched['status']}")

        # A decline asks first (confirm dialog) and needs its reason.
        driver.get(BASE + "/leads/" + ids["Lee Park"])
        if driver.find_elements(By.ID, "act-decline"):
            for reason in driver.find_elements(By.ID, "reason-decline"):
                reason.send_keys("Outside our area")
            driver.find_element(By.ID, "act-decline").click()
            alert = WebDriverWait(driver, 5).until(EC.alert_is_present())
            check("confirm: declining asks first", "Decline" in alert.text, alert.text)
            alert.dismiss()
            status, still = api("GET", "/v1/leads/" + ids["Lee Park"], admin)
            check("confirm: dismissing the question changes nothing", still["status"] == "contacted", still["status"])

        # Overdue on the server's clock: five days without completion (hub moderation).
        status, moved = api("POST", "/v1/test-clock/advance", OPERATOR, {"days": 6})
        check("test clock: the server's time moves", status == 200, moved)
        driver.get(BASE + "/leads")
        check("sessions: six days on, the 12-hour session has ended", driver.find_elements(By.ID, "email") != [])
        sign_in(driver, inbox, "mo@browser.test")
        driver.get(BASE + "/leads?badge=overdue")
        overdue = [e.text for e in driver.find_elements(By.CSS_SELECTOR, "#leads tbody th a")]
        check("badges: untouched leads show Overdue after the expected completion",
              "Sam Obi" in overdue and len(driver.find_elements(By.CSS_SELECTOR, "#leads .badge-overdue")) == len(overdue), overdue)

        # A viewer sees the lead and no button.
        viewer = browser()
        try:
            sign_in(viewer, inbox, "vi@browser.test")
            viewer.get(BASE + "/leads/" + ids["Sam Obi"])
            check("roles: a viewer gets no action button", viewer.find_elements(By.CSS_SELECTOR, "button[id^=act-]") == [])
            check("roles: a viewer gets no note form", viewer.find_elements(By.ID, "note") == [])
        finally:
            viewer.quit()

        # Across the network: Browser Hub refers a lead to another hub's listing from the lead page;
        # the other hub sees it arrive and accepts it; the referring hub follows, without buttons.
        status, river = api("POST", "/v1/tenants", OPERATOR, {
            "kind": "hub", "name": "River Hub", "slug": "river-hub", "admin": {"email": "admin@river.test", "display_name": "Rue"}})
        status, listing = api("POST", "/v1/listings", river["admin_token"], {"name": "River Business Desk", "service_areas": ["Oakland"]})
        check("setup: the other hub publishes a listing", status == 201, listing)
        driver.get(BASE + "/leads/" + ids["Rosa Diaz"])
        refer = driver.find_elements(By.ID, "act-refer_external")
        check("refer: the lead page offers a referral to a listing", refer != [])
        if refer:
            Select(driver.find_element(By.ID, "listing-refer_external")).select_by_value(listing["id"])
            refer[0].click()
            WebDriverWait(driver, 10).until(EC.presence_of_element_located((By.CSS_SELECTOR, "p.notice")))
            check("refer: the lead is Referred", driver.find_element(By.ID, "status").text == "Referred", driver.find_element(By.ID, "status").text)
        river_browser = browser()
        try:
            sign_in(river_browser, inbox, "admin@river.test")
            arrived = [e.text for e in river_browser.find_elements(By.CSS_SELECTOR, "#leads tbody th a")]
            check("refer: the other hub sees the lead arrive in its table", arrived == ["Rosa Diaz"], arrived)
            river_browser.find_element(By.LINK_TEXT, "Rosa Diaz").click()
            river_browser.find_element(By.ID, "act-accept").click()
            WebDriverWait(river_browser, 10).until(EC.presence_of_element_located((By.CSS_SELECTOR, "p.notice")))
            check("refer: the other hub accepts it", river_browser.find_element(By.ID, "status").text == "Accepted")
        finally:
            river_browser.quit()
        driver.get(BASE + "/referrals")
        row = driver.find_element(By.CSS_SELECTOR, "#referrals tbody tr").text
        check("refer: the referring hub sees the mirrored status", "River Hub" in row and "Accepted" in row, row)
        check("refer: the referring side has no button on its referrals", driver.find_elements(By.CSS_SELECTOR, "#referrals button, #referrals form") == [])
        shot(driver, "referrals")
        driver.get(BASE + "/reports?template=hub_moderation")
        shot(driver, "reports")

        # A sourcing company distributes a lead to a partner; the partner declines with a reason in its
        # browser; the sourcing side sees the mirrored status and reason, and no button.
        status, solar = api("POST", "/v1/tenants", OPERATOR, {
            "kind": "sourcing_company", "name": "Solar Co", "slug": "solar-co", "admin": {"email": "admin@solar.test", "display_name": "Sol"}})
        status, partner = api("POST", "/v1/tenants", OPERATOR, {
            "kind": "partner_company", "name": "Roof Partner", "slug": "roof-partner", "admin": {"email": "admin@roof.test", "display_name": "Ray"}})
        status, sourced = api("POST", "/v1/leads", solar["admin_token"], {
            "contact": {"name": "Dana Sun", "email": "dana@x.test"},
            "consent": {"scope": "organisation", "organisation_id": partner["tenant"]["id"], "purpose": "roof quote", "method": "written"}})
        status, referral = api("POST", "/v1/leads/" + sourced["id"] + "/referrals", solar["admin_token"], {"partner_id": partner["tenant"]["id"]})
        check("setup: the sourcing company distributes a lead to the partner", status == 201, referral)
        partner_browser = browser()
        try:
            sign_in(partner_browser, inbox, "admin@roof.test")
            partner_browser.find_element(By.LINK_TEXT, "Dana Sun").click()
            partner_browser.find_element(By.ID, "reason-decline").send_keys("Outside our service area")
            partner_browser.find_element(By.ID, "act-decline").click()
            WebDriverWait(partner_browser, 5).until(EC.alert_is_present()).accept()
            WebDriverWait(partner_browser, 10).until(EC.presence_of_element_located((By.CSS_SELECTOR, "p.notice")))
            check("decline: the partner declines with a reason", partner_browser.find_element(By.ID, "status").text == "Declined")
        finally:
            partner_browser.quit()
        solar_browser = browser()
        try:
            sign_in(solar_browser, inbox, "admin@solar.test")
            solar_browser.get(BASE + "/referrals")
            row = solar_browser.find_element(By.CSS_SELECTOR, "#referrals tbody tr").text
            check("decline: the sourcing side sees Declined and the reason", "Declined" in row and "Outside our service area" in row, row)
            check("decline: the sourcing side has no button on the referral",
                  solar_browser.find_elements(By.CSS_SELECTOR, "#referrals button, #referrals form") == [])
        finally:
            solar_browser.quit()

        # Script in a lead's fields is text.
        status, hostile = api("POST", "/v1/leads", admin, {
            "contact": {"name": "<script>window.hacked=1</script><img src=x onerror=window.hacked=2>", "email": "h@x.test"},
            "request": "<b>bold</b>"})
        driver.get(BASE + "/leads/" + hostile["id"])
        check("escaping: a script in a name is shown as text and never runs",
              "<script>window.hacked=1</script>" in driver.find_element(By.TAG_NAME, "h1").text
              and driver.execute_script("return window.hacked === undefined"))

        # Another tenant's lead is a missing one.
        status, other = api("POST", "/v1/tenants", OPERATOR, {
            "kind": "hub", "name": "Other Hub", "slug": "other-hub", "admin": {"email": "admin@other.test", "display_name": "Oz"}})
        status, foreign = api("POST", "/v1/leads", other["admin_token"], {"contact": {"name": "Foreign Lead", "phone": "555-0100"}})
        driver.get(BASE + "/leads/" + foreign["id"])
        text_foreign = driver.find_element(By.TAG_NAME, "main").text
        driver.get(BASE + "/leads/00000000-0000-4000-8000-000000000000")
        check("isolation: another tenant's lead reads exactly as a missing one",
              text_foreign == driver.find_element(By.TAG_NAME, "main").text and "Foreign Lead" not in text_foreign)

        # Phone-sized screen: nothing wider than the screen but the tables' own scroll areas.
        phone = browser(375, 740)
        try:
            sign_in(phone, inbox, "admin@browser.test")
            overflow = phone.execute_script("return document.documentElement.scrollWidth - window.innerWidth")
            check("phone: the lead table page fits a 375 px screen", overflow <= 0, f"{overflow}px wider")
            phone.get(BASE + "/leads/" + ids["Sam Obi"])
            overflow = phone.execute_script("return document.documentElement.scrollWidth - window.innerWidth")
            check("phone: the lead page fits a 375 px screen", overflow <= 0, f"{overflow}px wider")
            shot(phone, "lead-phone")
            for page in ["/board", "/opportunities", "/clients", "/listings", "/referrals", "/reports", "/devices", "/users", "/templates", "/deliveries", "/settings"]:
                phone.get(BASE + page)
                overflow = phone.execute_script("return document.documentElement.scrollWidth - window.innerWidth")
                check(f"phone: {page} fits a 375 px screen", overflow <= 0, f"{overflow}px wider")
                check(f"accessibility: every field of {page} has a label", unlabelled_fields(phone) == [], unlabelled_fields(phone))
                current = phone.find_elements(By.CSS_SELECTOR, "nav a[aria-current=page]")
                check(f"navigation: {page} is marked as the current page",
                      [a.get_attribute("href").replace(BASE, "") for a in current] == [page])
            phone.get(BASE + "/reports?template=hub_moderation")
            shot(phone, "reports-phone")
        finally:
            phone.quit()

        # Sign out everywhere ends this browser's session and the others'.
        second = browser()
        try:
            sign_in(second, inbox, "mo@browser.test")
            driver.get(BASE + "/leads")
            driver.execute_script("window.confirm = () => true")
            driver.find_element(By.CSS_SELECTOR, "form[action='/sign-out/everywhere'] button").click()
            WebDriverWait(driver, 10).until(EC.presence_of_element_located((By.ID, "email")))
            second.get(BASE + "/leads")
            check("sign out everywhere: the other browser is back at sign-in", second.find_elements(By.ID, "email") != [])
        finally:
            second.quit()
    except (AssertionError, TimeoutException) as error:
        check("the run reached its end", False, repr(error))
        shot(driver, "failure")
    finally:
        driver.quit()
        smtp.stop()

    failed = [name for name, ok in checks if not ok]
    print(f"\nbrowser test: {len(checks) - len(failed)} of {len(checks)} checks passed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
