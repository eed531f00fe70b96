"""The conditional family's networks fit the contract their protocol states: each
component, fed example inputs made from its own tensors, answers the shapes its rules say;
guidance joins every encoder level; a CoDi student starts exactly as its teacher."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from edgezoo.tasks.feeds import example_feeds  # noqa: E402
from edgezoo.zoo import get_entry, list_models  # noqa: E402
from edgezoo.zoo.conditional import adapter_parameters, freeze_all_but_adapters, grey_structure  # noqa: E402
from edgezoo.zoo.train_conditional import student_from_teacher  # noqa: E402

NAMES = list_models(family="conditional-diffusion")


def test_the_family_has_deblurring_sr_guided_and_student_variants():
    assert {"dvsr-tiny-deblur", "dvsr-tiny-deblur-guided", "dvsr-tiny-sr4", "codi-tiny-deblur",
            "codi-tiny-sr4"} <= set(NAMES)
    for name in NAMES:
        entry = get_entry(name)
        params = sum(p.numel() for p in entry.build().parameters())
        assert params < 1_000_000, f"{name} has {params} parameters: not a phone-sized edge variant"


@pytest.mark.parametrize("name", NAMES)
def test_every_component_answers_the_shapes_of_its_contract(name):
    entry = get_entry(name)
    side = entry.export_size[0]
    spec = entry.spec(side, side)
    assert [c.name for c in spec.components] == ["predictor", "denoiser"]
    assert spec.program.kind == "sampler" and spec.program.component == "denoiser"
    model = entry.build().eval()
    for component in spec.components:
        feeds = example_feeds(component.inputs, rng=0)
        module = model.components()[component.name]
        with torch.no_grad():
            out = module(*[torch.from_numpy(v) for v in feeds.values()])
        sides = {k: tuple(v.shape[-2:]) for k, v in feeds.items()}
        assert tuple(out.shape[-2:]) == component.outputs[0].output_sides(sides)
        assert list(out.shape) == component.outputs[0].shape
    scale = entry.config.scale
    assert spec.component("predictor").outputs[0].shape[-1] == side * scale


def test_the_sampler_program_carries_the_refine_loop_as_data():
    from edgezoo.runtimes.refine import RefineProgram
    from edgezoo.runtimes.samplers import scheduler_from_dict

    teacher, student = get_entry("dvsr-tiny-deblur").spec(), get_entry("codi-tiny-deblur").spec()
    program = RefineProgram.from_sampler(teacher.program.sampler)
    assert program.residual_scale == get_entry("dvsr-tiny-deblur").config.residual_scale
    assert (program.predictor, program.condition) == ("predictor", "condition")
    assert scheduler_from_dict(teacher.program.sampler).steps == 25
    assert scheduler_from_dict(student.program.sampler).steps == 4  # the student is served by the same program, fewer steps


def test_guidance_regresses_a_grey_structure_at_every_level_and_changes_the_output():
    entry = get_entry("dvsr-tiny-deblur-guided")
    torch.manual_seed(0)
    model = entry.build().eval()
    x, y, t = torch.randn(1, 3, 32, 32), torch.rand(1, 3, 32, 32), torch.tensor([300.0])
    v, structures = model.denoiser.forward_with_structure(x, t, y)
    targets = grey_structure(torch.rand(1, 3, 32, 32), entry.config.levels)
    assert [s.shape for s in structures] == [g.shape for g in targets] == [(1, 1, 32, 32), (1, 1, 16, 16), (1, 1, 8, 8)]
    with torch.no_grad():
        for p in model.denoiser.guidance.project.parameters():
            p.zero_()
        unguided = model.denoiser(x, t, y)
    assert not torch.allclose(v, unguided)


def test_a_student_starts_as_its_teacher_and_trains_only_its_adapters():
    torch.manual_seed(1)
    teacher = get_entry("dvsr-tiny-sr4").build().eval()
    student = student_from_teacher("codi-tiny-sr4", teacher).eval()
    x, y, t = torch.randn(2, 3, 32, 32), torch.rand(2, 3, 8, 8), torch.tensor([999.0, 10.0])
    with torch.no_grad():
        np.testing.assert_array_equal(student(x, t, y).numpy(), teacher(x, t, y).numpy())
    trainable = [p for p in student.parameters() if p.requires_grad]
    assert trainable and all(any(p is q for q in adapter_parameters(student)) for p in trainable)
    count, total = freeze_all_but_adapters(student.denoiser)
    assert 0 < count / total < 0.05
