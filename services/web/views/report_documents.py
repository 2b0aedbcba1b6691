"""The GraphQL documents of the pages about reports and grant exports
(issue 19, DOMAIN.md section 10): the member's report page, the
secretariat's review page, the overdue reports of the dashboard, the
grant's CSV downloads and its IATI file.

Invariants:
- every document validates against the gateway's schema and stays under its
  cost limit (tests/integration/test_web_reports.py checks them all): the
  grant pages ask for the reports of each allocation without their
  indicators (a list in a list in a list would cost too much); a report's
  own page and the reports CSV (GRANT_CSV, one grant) ask for them;
- page sizes are fixed here, never taken from the URL.
"""
from typing import Final

from services.gateway.reports import OVERDUE_LIMIT

REPORT_FIELDS: Final = """
    id dueOn status overdue narrative spent submittedAt reviewNote
    indicators { name unit target actual }
    allocation {
      id amount purpose status
      grant { id title currency status }
      member { id name }
    }"""

REPORT: Final = """
query Report($id: ID!) {
  viewer { role member { id } }
  report(id: $id) {%s
  }
}
""" % REPORT_FIELDS

SECRETARIAT_REPORT: Final = """
query SecretariatReport($id: ID!) {
  report(id: $id) {%s
  }
}
""" % REPORT_FIELDS

OVERDUE_SHOWN: Final = 50    # overdue reports listed on the dashboard; the rest counted
# overdueReports answers at most this many: a full answer is counted as
# "at least" that many
OVERDUE_ANSWERED: Final = OVERDUE_LIMIT
PIPELINE_SHOWN: Final = 50   # grants in the pipeline listed on the dashboard

# The dashboard's part that the grants service answers, run apart from the
# rest of the dashboard so that the page is still made when that service does
# not answer (views/secretariat.py).
DASHBOARD_GRANTS: Final = """
query DashboardGrants {
  pipeline: grants(status: PIPELINE, first: %d) {
    totalCount
    edges { node { id title donor currency amount } }
  }
  overdueReports {
    id dueOn status
    allocation { id grant { id title } member { id name } }
  }
}
""" % PIPELINE_SHOWN

GRANT_CSV: Final = """
query GrantCsv($id: ID!) {
  grant(id: $id) {
    id title donor currency amount startDate endDate status sectorCode
    allocations {
      id amount purpose status disbursed
      member { id name }
      disbursements { id amount paidOn reference }
      reports {
        id dueOn status overdue spent submittedAt reviewedAt reviewNote narrative
        indicators { name unit target actual }
      }
    }
  }
}
"""

IATI: Final = """
query GrantIati($id: ID!) { grant(id: $id) { id iatiXml } }
"""

# ---- mutations ----------------------------------------------------------------------

SUBMIT: Final = """
mutation SubmitReport($id: ID!, $input: ReportInput!) {
  submitReport(id: $id, input: $input) { id status }
}
"""

REVIEW: Final = """
mutation ReviewReport($id: ID!, $accept: Boolean!, $note: String) {
  reviewReport(id: $id, accept: $accept, note: $note) { id status }
}
"""

SCHEDULE: Final = """
mutation ScheduleReport($allocationId: ID!, $dueOn: Date!) {
  scheduleReport(allocationId: $allocationId, dueOn: $dueOn) { id dueOn status }
}
"""

CLOSE_GRANT: Final = """
mutation CloseGrant($id: ID!) { closeGrant(id: $id) { id status } }
"""

QUERIES: Final = {"REPORT": REPORT, "SECRETARIAT_REPORT": SECRETARIAT_REPORT,
                  "DASHBOARD_GRANTS": DASHBOARD_GRANTS, "GRANT_CSV": GRANT_CSV, "IATI": IATI}
MUTATIONS: Final = {"SUBMIT": SUBMIT, "REVIEW": REVIEW, "SCHEDULE": SCHEDULE,
                    "CLOSE_GRANT": CLOSE_GRANT}
