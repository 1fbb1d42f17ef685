"""The demo workspace gets the shipped skills, attached to its Direct-mode agent."""

from portal.demo import DEMO_AGENT, demo_seed
from skills.models import AgentSkill, Skill
from workspaces.models import Workspace


def test_the_demo_has_the_example_skills_on_its_direct_agent(db):
    demo_seed()
    demo = Workspace.objects.get(slug="demo")
    names = sorted(Skill.objects.filter(workspace=demo).values_list("name", flat=True))
    assert names == ["csv-to-json", "data-analysis-toolkit", "report-generation"]
    attached = AgentSkill.objects.filter(agent__name=DEMO_AGENT, agent__workspace=demo)
    assert attached.count() == 3 and not attached.filter(pinned_version__isnull=False).exists()


def test_seeding_again_adds_nothing_and_keeps_a_deletion(db):
    demo_seed()
    Skill.objects.filter(name="csv-to-json").delete()
    demo_seed()
    assert sorted(Skill.objects.values_list("name", flat=True)) == [
        "data-analysis-toolkit",
        "report-generation",
    ]
