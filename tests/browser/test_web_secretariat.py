"""The secretariat at work in a real browser (issue 17): an admission from
the application (an anonymous visitor's form) to an ACTIVE member with its
MoU signed, and an allocation from the grant's creation and the proposal to
a disbursement, every step by a form of the web app; only the members'
stances are cast through the API (the voters' part is test_web_voting.py).

Each test starts from a coalition of its own voters (isolate_voters, as the
integration tests do; pending candidates are withdrawn too, so that the
dashboard's list of applications is this test's)."""
import re
import uuid

from tests.browser.support import (add_session_cookie, new_context, session_token,
                                   sign_in_by_mail)
from tests.helpers.consultations import admission_of, cast
from tests.helpers.grants import get_allocation, get_grant, wait_allocation, wait_consultation
from tests.helpers.sign_in import add_secretariat, new_address
from tests.support import founders, isolate_voters, wait_for, wait_read_models

CANDIDATES = "{ members(status: CANDIDATE, first: 200) { edges { node { id } } } }"
WITHDRAW = "mutation($m: ID!) { withdrawMembership(memberId: $m) { id } }"
FIND = """query($s: String!) { members(search: $s, first: 5) {
  edges { node { id name status canVote mouSignedAt } } } }"""


def isolate(stack):
    """No voter and no candidate but the test's own."""
    isolate_voters(stack)
    edges = stack.gql(CANDIDATES, token=stack.admin())["members"]["edges"]
    for edge in edges:
        stack.gql(WITHDRAW, {"m": edge["node"]["id"]}, stack.admin())


def found(stack, name):
    nodes = [e["node"] for e in stack.gql(FIND, {"s": name}, stack.admin())["members"]["edges"]
             if e["node"]["name"] == name]
    return nodes[0] if nodes else None


def click(page, role, name, within=None):
    """Click the element of `role` and exact `name` (inside `within`), and wait for the page."""
    (within or page).get_by_role(role, name=name, exact=True).click()
    page.wait_for_load_state()


def apply(browser, stack, name, address):
    """An anonymous visitor fills in /apply; it ends on the page that says it was sent."""
    context = new_context(browser, stack.url)
    page = context.new_page()
    page.goto("/apply")
    page.get_by_label("Name of the organisation", exact=True).fill(name)
    page.get_by_label("Type of organisation", exact=True).select_option("COMMUNITY_ORGANISATION")
    page.get_by_label("Countries", exact=True).fill("Kyrgyzstan")
    page.get_by_role("group", name="Constituencies").get_by_role("checkbox").first.check()
    page.get_by_label("Full name", exact=True).fill("Aida Focal")
    page.get_by_label("E-mail address", exact=True).fill(address)
    page.get_by_role("radio", name="English", exact=True).check()
    public = page.get_by_role("radio", name="Public", exact=True)
    if public.count():
        public.check()
    click(page, "button", "Send application")
    assert page.url.endswith("/apply/sent"), page.inner_text("main")
    context.close()


def test_the_secretariat_runs_an_admission_from_the_application_to_an_active_member(
        stack, mail, browser, browser_context):
    isolate(stack)
    voters = founders(stack, 2)
    name = f"Prosvet {uuid.uuid4().hex[:6]}"
    apply(browser, stack, name, new_address("apply"))
    candidate = wait_for(lambda: found(stack, name), 20, 0.2, "the candidate")
    assert candidate["status"] == "CANDIDATE"
    admission = admission_of(stack, candidate["id"])
    for voter in voters:
        assert not cast(stack, str(admission["_id"]), voter["id"], "AGREE").get("errors")

    secretariat = new_address("sec")
    add_secretariat(stack, secretariat, "Browser Secretariat")
    page = browser_context().new_page()
    sign_in_by_mail(page, stack, secretariat)
    page.goto("/secretariat")
    click(page, "link", name, within=page.get_by_role("region", name=re.compile(
        r"^Pending applications")))
    assert page.url.endswith(f"/secretariat/members/{candidate['id']}")
    page.get_by_role("region", name="Admission consultation").get_by_role("link").click()
    page.wait_for_load_state()
    assert "2 of 2 eligible members responded." in page.inner_text("main")
    click(page, "button", "Close the round")
    assert page.get_by_role("status").is_visible()
    assert "Adopted" in page.inner_text("main")

    wait_read_models(stack, candidate["id"], status="ACTIVE")
    click(page, "link", "The member concerned")
    click(page, "button", "Sign the MoU for this member")
    assert page.get_by_role("status").is_visible()
    assert page.get_by_role("button", name="Sign the MoU for this member").count() == 0
    member = wait_for(lambda: (m := found(stack, name)) and m["canVote"] and m, 20, 0.2,
                      "the member can vote")
    assert member["status"] == "ACTIVE" and member["mouSignedAt"]


def test_the_secretariat_runs_an_allocation_from_the_proposal_to_a_disbursement(
        stack, mail, browser_context):
    isolate(stack)
    payee, *voters = founders(stack, 3)
    secretariat = new_address("sec")
    add_secretariat(stack, secretariat, "Browser Secretariat")
    context = browser_context()
    add_session_cookie(context, stack, session_token(stack, secretariat))
    page = context.new_page()
    title = f"Community monitoring {uuid.uuid4().hex[:6]}"

    page.goto("/secretariat")
    click(page, "link", "Create a grant")
    page.get_by_label("Title", exact=True).fill(title)
    page.get_by_label("Donor", exact=True).fill("Robert Carr Fund")
    page.get_by_label("Currency", exact=True).fill("USD")
    page.get_by_label("Amount", exact=True).fill("50000.00")
    page.get_by_label("Start date", exact=True).fill("2026-01-01")
    page.get_by_label("End date", exact=True).fill("2027-12-31")
    click(page, "button", "Create the grant")
    grant_id = re.search(r"/secretariat/grants/([^/?#]+)", page.url).group(1)
    assert get_grant(stack, grant_id)["status"] == "PIPELINE"
    click(page, "button", "Activate this grant")
    assert get_grant(stack, grant_id)["status"] == "ACTIVE"

    click(page, "link", "Propose an allocation")
    assert page.get_by_label("Grant", exact=True).input_value() == grant_id
    page.get_by_label("Member", exact=True).select_option(payee["id"])
    page.get_by_label("Amount", exact=True).fill("20000.00")
    page.get_by_label("Purpose", exact=True).fill("Community-led monitoring in Central Asia.")
    click(page, "button", "Propose the allocation")
    allocation_id = re.search(r"#allocation-(.+)$", page.url).group(1)
    assert get_allocation(stack, grant_id, allocation_id)["status"] == "PROPOSED"

    consultation = wait_consultation(stack, grant_id, allocation_id)
    assert {m["id"] for m in consultation["eligibleMembers"]} == {v["id"] for v in voters}
    for voter in voters:
        assert not cast(stack, consultation["id"], voter["id"], "AGREE").get("errors")
    page.reload()
    row = page.locator(f"#allocation-{allocation_id}")
    click(page, "link", "Its consultation", within=row)
    click(page, "button", "Close the round")
    assert "Adopted" in page.inner_text("main")
    wait_allocation(stack, grant_id, allocation_id, "APPROVED")

    page.goto(f"/secretariat/grants/{grant_id}")
    row.get_by_role("link", name=re.compile(r"^Record a disbursement")).click()
    page.wait_for_load_state()
    assert page.get_by_label("Allocation", exact=True).input_value() == allocation_id
    page.get_by_label("Amount paid", exact=True).fill("5000.00")
    page.get_by_label("Paid on", exact=True).fill("2026-03-01")
    page.get_by_label("Reference (optional)", exact=True).fill("BANK-2026-0301")
    click(page, "button", "Record the disbursement")
    assert "5,000.00" in row.inner_text() and "BANK-2026-0301" in row.inner_text()
    allocation = get_allocation(stack, grant_id, allocation_id)
    assert allocation["disbursed"] == "5000.00"
    assert [(d["amount"], d["paidOn"]) for d in allocation["disbursements"]] == [
        ("5000.00", "2026-03-01")]
