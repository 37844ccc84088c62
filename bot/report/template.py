"""The post-incident report template: the runbooks' "Post-Incident Report Template"
(seeds, DWCP v3 incident response), with what Medic knows filled in."""

REPORT_TEMPLATE = """\
# Incident Report: {{ r.id }} — {{ r.title | one_line }}

{% if r.resolved %}
> Drafted by Medic from its records at {{ r.generated_at | ts }}. Parts marked _for humans_ \
need your words.
{% else %}
> **Draft so far**: the incident is still **{{ r.status }}**; this covers what Medic recorded \
until {{ r.generated_at | ts }}.
{% endif %}

## Summary
- **Start Time**: {{ r.start | ts }}
- **End Time**: {{ r.end | ts if r.end else "— (ongoing)" }}
- **Duration**: {{ r.duration | duration }}{{ "" if r.resolved else " so far" }}
- **Severity**: {{ r.severity_label }}
- **Status**: {{ r.status }}
- **Commander**: {{ r.commander }}
- **Impact**: _for humans_ (see Impact Assessment)
{% if r.pagerduty_incident_id %}
- **PagerDuty incident**: {{ r.pagerduty_incident_id }}
{% endif %}
{% if r.previous %}
- **Previous incident**: {{ r.previous }} (the same alerts fired before)
{% endif %}

## Timeline
{% for t in r.timeline %}
- **{{ t.at | clock(r) }}** - {{ t.text | one_line }} _({{ t.actor }})_
{% else %}
- (nothing recorded)
{% endfor %}

## Root Cause
_For humans: what caused the incident._ What Medic knows:

### Alerts
{% for a in r.alerts %}
- **{{ a.name }}** ({{ a.source }}, {{ a.status }}): fired {{ a.starts_at | ts }}\
{{ ", ended " ~ (a.ends_at | ts) if a.ends_at else "" }}
  - labels: {{ a.labels | labels }}
{% for key, value in a.annotations | dictsort %}
  - {{ key }}: {{ value | one_line }}
{% endfor %}
{% else %}
- (no alerts)
{% endfor %}

### Matched playbooks
{% for run in r.playbooks %}
- **{{ run.playbook }}**{{ ": " ~ (run.description | one_line) if run.description else "" }}
{% else %}
- none: no playbook matched these alerts
{% endfor %}

## Resolution
What Medic did, who approved it and what it changed.
{% for run in r.runs %}

### {{ run.id }} {{ run.playbook }} — {{ run.status }}
Target {{ run.target | code if run.target else "none" }}, started by {{ run.started_by }}.

{% for s in run.steps %}
{{ loop.index }}. `{{ s.id }}` ({{ s.action }}) — **{{ s.status }}**\
{{ " (dry run: nothing changed)" if s.dry_run else "" }}{{ s | span(r) }}
{% if s.is_approval %}
{% if s.approval %}
   - {{ s.approval | approval_text }}
{% endif %}
{% else %}
   - {{ s | go_ahead }}
{% for c in s.changes %}
   - {{ "would change" if s.dry_run else "changed" }} {{ c.field | code ~ ": " if c.field else "" \
}}{{ c.before | value }} → {{ c.after | value }}
{% endfor %}
{% if s.would %}
   - {{ s.would | one_line }}
{% elif not s.changes and s.output %}
   - output: {{ s.output | value }}
{% endif %}
{% if s.error %}
   - error: {{ s.error | one_line }}
{% endif %}
{% endif %}
{% else %}
(no step ran)
{% endfor %}
{% else %}

No playbook ran.
{% endfor %}

## Impact Assessment
- **Users Affected**: _for humans_
- **Requests Failed**: _for humans_
- **Revenue Impact**: _for humans_
- **SLA Breach**: _for humans_
- What Medic knows:
{% for a in r.alerts %}
  - {{ a.name }} fired for {{ a | alert_span(r) }}
{% else %}
  - no alerts recorded
{% endfor %}

## Lessons Learned
1. _for humans_

## Action Items
{% for f in r.followups %}
{{ loop.index }}. [{{ "x" if f.done else " " }}] {{ f.text | one_line }} - Owner: _ - Due: _
{% endfor %}

## Preventive Measures
_For humans: what keeps this from happening again._
"""
