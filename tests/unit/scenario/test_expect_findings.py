"""Diagnosis expectations: findings that must be there, or the exact set."""

import pytest

from testbed.diagnosis import Diagnosis, Finding
from testbed.scenario._expect import check_diagnosis


def diagnosis(*ids):
    return Diagnosis("healthy", "No problem", "", "", (),
                     tuple(Finding(i, f"{i} happened") for i in ids))


@pytest.mark.parametrize("expect, found, failures", [
    ({"findings": ["connection-refused"]}, ("connection-refused", "failover"), []),
    ({"findings": ["failover", "connection-refused"]}, ("connection-refused", "failover"), []),
    ({"findings": ["dns-servfail"]}, ("connection-refused", "failover"),
     ["expect.diagnosis.findings: expected dns-servfail, found connection-refused, failover "
      "(missing dns-servfail)"]),
    ({"findings": ["retransmissions"]}, (),
     ["expect.diagnosis.findings: expected retransmissions, found none "
      "(missing retransmissions)"]),
    ({"findings_exactly": ["failover", "connection-refused"]},
     ("connection-refused", "failover", "connection-refused"), []),
    ({"findings_exactly": []}, (), []),
    ({"findings_exactly": []}, ("retransmissions",),
     ["expect.diagnosis.findings_exactly: expected none, found retransmissions "
      "(unexpected retransmissions)"]),
    ({"findings_exactly": ["connection-refused", "dns-servfail"]},
     ("connection-refused", "failover"),
     ["expect.diagnosis.findings_exactly: expected connection-refused, dns-servfail, found "
      "connection-refused, failover (missing dns-servfail; unexpected failover)"]),
    ({"row": "healthy", "findings": ["failover"]}, ("failover",), []),
    ({"row": "nat-timeout", "findings": ["failover"]}, (),
     ["expect.diagnosis.row: expected 'nat-timeout', got 'healthy'",
      "expect.diagnosis.findings: expected failover, found none (missing failover)"]),
])
def test_findings_expectations(expect, found, failures):
    assert check_diagnosis(expect, diagnosis(*found)) == failures
