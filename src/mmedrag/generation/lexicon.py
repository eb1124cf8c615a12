"""The extractive answerer's small lexicon: framing words, states, synonyms and hedges (all stemmed on use).

Each list is a general radiology vocabulary, not a list of questions: it says which words *frame* a question,
which name a *state* of a structure (normal or abnormal), which words name the same finding (synonyms and the
related terms radiologists use interchangeably for a yes/no reading), and which phrases *hedge* a finding.

Sources: the NegEx trigger lists (Chapman et al., J Biomed Inform 2001) and the CheXpert labeler's mention and
uncertainty phrases (Irvin et al., AAAI 2019; github.com/stanfordmlgroup/chexpert-labeler, ``phrases/``); the
"normal" phrasings are those of structured chest radiograph reports (e.g. "within normal limits", "unremarkable").
"""

from __future__ import annotations

from mmedrag.generation.negation import stem

# Words that frame a question rather than name a finding or a state.
FRAME = frozenset(
    """
    a an the is are was were be been being does do did has have had can could will would should may might must
    there this that these those it its of in on at to for from with by as and or any some evidence sign signs
    image images picture film films scan scans study radiograph radiographs xray ray view views shown show shows
    seen see visible visualized noted note present presence appear appears appearing appearance demonstrate
    demonstrated demonstrates indicate indicates indication indicative suggest suggests suggestive patient patients
    identified identify detected observed observable observe consistent findings finding found what which where how
    located here chest evident apparent report reports mention mentions mentioned according seem seems look looks
    described describe depicted detectable identifiable discernible noticeable type kind history undergo undergone
    """.split()  # noqa: SIM905 - a word list reads better as text
)
_INFLECTIONS = ("ing", "ed", "d", "s")


def is_frame(token: str) -> bool:
    """Whether a question word frames the question, also inflected ("looking", "suggested", "pictured"). Only verb
    endings are undone, not the stemmer's: it makes "signal" "sign", and signal intensity is what MR questions ask."""
    if token in FRAME:
        return True
    bases = (token[: -len(end)] for end in _INFLECTIONS if token.endswith(end) and len(token) > len(end) + 2)
    return any(base in FRAME or base + "e" in FRAME for base in bases)


# A structure "in a normal state" (the report's usual way of saying nothing is wrong with it).
NORMAL_STATE = frozenset(
    stem(w)
    for w in """normal normally unremarkable clear intact midline preserved maintained patent sharp
    satisfactory""".split()  # noqa: SIM905
)
# A structure "in an abnormal state": questions ask "Is the X abnormal / remarkable / enlarged?".
ABNORMAL_STATE = frozenset(
    stem(w)
    for w in """abnormal abnormality abnormalities remarkable notable significant issue issues problem problems
    concern concerns concerning outside enlarged enlargement widened widening deviated deviation increased prominent
    prominence irregular irregularity""".split()  # noqa: SIM905
)
# The specific abnormal states a question may ask, each a group of the words radiologists use for it: "Is the heart
# enlarged?" is answered by "cardiomegaly", "the heart is large" or "normal heart size", not by "left sided cardiac
# deviation" or "the heart is small" (both once answered "Yes", supported). Generic states ("abnormal",
# "remarkable") ask about any abnormality and are not grouped.
_STATE_GROUP_LINES = """
enlarged enlargement large increased prominent prominence widened widening dilated dilation dilatation distended
deviated deviation shifted shift displaced displacement
irregular irregularity
"""
STATE_GROUPS: dict[str, str] = {
    stem(word): stem(line.split()[0]) for line in _STATE_GROUP_LINES.strip().splitlines() for word in line.split()
}
# What is wrong, not where: a structure's state question ("Are the lungs normal?") is answered "no" by a sentence
# that puts one of these on it, whatever other structure the sentence calls normal ("Total right lung opacification
# ... normal sized heart").
FINDINGS = frozenset(
    stem(w)
    for w in """effusion opacity opacification consolidation infiltrate pneumothorax nodule mass atelectasis collapse
    granuloma edema fracture lesion tumor tumour cyst hemorrhage haemorrhage infarct infarction pneumonia emphysema
    fibrosis calcification cavitation cavity abscess metastasis metastases thickening hernia""".split()  # noqa: SIM905
)
# What a finding is like: "Is the mass calcified?" asks about the calcification, so a sentence naming the mass
# without it says nothing either way (it once answered "Yes" from another patient's "infiltrative mass").
ATTRIBUTES = frozenset(
    stem(w)
    for w in """calcified calcification calcifications enhancing enhancement enhances cystic solid cavitary cavitating
    necrotic necrosis hemorrhagic haemorrhagic displaced comminuted malignant benign lytic sclerotic
    heterogeneous homogeneous hyperdense hypodense hyperintense hypointense hyperechoic hypoechoic isodense
    isointense septated lobulated spiculated loculated""".split()  # noqa: SIM905
)
# Where a finding is, not what it is: a sentence naming only the place does not answer about a finding there.
ANATOMY = frozenset(
    stem(w)
    for w in """heart mediastinum lung bone spine rib aorta diaphragm thoracic thorax left right upper lower mid
    middle base bases apex apical lobe hilar hilum perihilar chest wall trachea clavicle shoulder costophrenic
    angle angles silhouette contour contours size structures structure soft tissue tissues
    bilateral bilaterally side""".split()  # noqa: SIM905
)
# Organs: a sentence that places a finding in another organ than the asked one is not about the asked finding
# ("Is there a mass in the liver?" is not answered by "mass in the right lower lobe"). Pleura and the bony chest
# wall are left out on purpose: "effusion in the lungs" is asked for what reports call a pleural effusion, and
# findings are placed "projecting over the ribs".
ORGANS = frozenset(
    stem(w)
    for w in """heart lung liver kidney kidneys renal brain spleen pancreas bowel colon stomach bladder uterus
    ovary prostate thyroid breast aorta mediastinum diaphragm trachea esophagus gallbladder adrenal mesentery
    mesenteric peritoneum peritoneal retroperitoneum pelvis orbit sinus""".split()  # noqa: SIM905
)
# Where something is, in any words: a sentence that leaves the place out still names the thing ("effusion" for a
# pleural effusion, "ventricles" for the lateral ventricles).
_LOCATIONS = frozenset(
    stem(w)
    for w in """pleura pleural lateral medial anterior posterior superior inferior proximal distal central peripheral
    frontal temporal parietal occipital""".split()  # noqa: SIM905
)
PLACES = ANATOMY | ORGANS | _LOCATIONS
SIDES = frozenset({"left", "right"})
# Temporal questions ("since the previous study", "a new finding") read "stable"/"unchanged" as "no change".
# Matched on the question's words as written: "changed" is temporal, "degenerative changes" is a finding.
TEMPORAL_CUES = frozenset(
    """since interval previous previously prior new newly worsening worsened progression progressed compared
    changed recent recently last""".split()  # noqa: SIM905
)
STABLE_STATE = frozenset(stem(w) for w in ["stable", "unchanged"])
CHANGE_STATE = frozenset(
    stem(w) for w in ["change", "changed", "new", "worsening", "worsened", "progression", "increased"]
)

# Synonyms and related terms: every word on a line reads as the first one (both in questions and in reports).
# Related terms are grouped only where a radiologist's yes/no answer does not depend on the choice of word.
_SYNONYM_LINES = """
heart cardiac cardio cardiomediastinal
mediastinum mediastinal cardiomediastinal
lung lungs pulmonary lobe lobes lobar lingula lingular
bone bones bony osseous skeletal skeleton
effusion effusions fluid
opacity opacities opacification consolidation consolidations infiltrate infiltrates airspace density densities
pneumothorax pneumothoraces
nodule nodules nodular mass masses
atelectasis atelectatic collapse
vasculature vascularity vascular vessels
spine spinal vertebral vertebrae
diaphragm diaphragms hemidiaphragm hemidiaphragms
granuloma granulomas granulomatous
edema oedema
aorta aortic
rib ribs
"""
SYNONYMS: dict[str, str] = {}
for _line in _SYNONYM_LINES.strip().splitlines():
    _head, *_others = _line.split()
    for _word in (_head, *_others):
        SYNONYMS.setdefault(stem(_word), stem(_head))

# Words that carry a state: "cardiomegaly" is an enlarged heart, "hyperinflation" over-inflated lungs.
COMPOUNDS: dict[str, tuple[str, ...]] = {
    stem("cardiomegaly"): (stem("heart"), stem("enlarged")),
    stem("hyperinflation"): (stem("lung"), stem("abnormal")),
    stem("hyperinflated"): (stem("lung"), stem("abnormal")),
    stem("hyperexpanded"): (stem("lung"), stem("abnormal")),
    stem("pneumonia"): (stem("opacity"),),
}

# Hedges (CheXpert's uncertainty phrases, abridged): the finding is neither affirmed nor denied.
HEDGES = (
    "may represent",
    "may be",
    "could be",
    "could represent",
    "cannot exclude",
    "cannot be excluded",
    "can not be excluded",
    "not excluded",
    "cannot rule out",
    "possible",
    "possibly",
    "likely",
    "probable",
    "probably",
    "suspicious for",
    "suspicion of",
    "suspected",
    "questionable",
    "question of",
    "concerning for",
    "suggestive of",
    "suggests",
    "versus",
    "vs",
    "differential",
    "borderline",
    "equivocal",
    "uncertain",
    "indeterminate",
)

# A global normal statement makes a report complete by itself (CheXpert's "No Finding" phrasings, abridged).
GLOBAL_NORMAL = (
    "no acute cardiopulmonary",
    "no acute cardiopulmonary abnormality",
    "no acute disease",
    "no active disease",
    "no acute abnormality",
    "no acute findings",
    "normal chest",
    "negative chest",
    "no radiographic evidence of acute",
    "no acute pulmonary disease",
    "no acute intrathoracic",
)
# The systems a complete chest radiograph report describes (heart/mediastinum, lungs, pleura, bones).
SYSTEMS: tuple[frozenset[str], ...] = tuple(
    frozenset(SYNONYMS.get(stem(w), stem(w)) for w in group.split())
    for group in (
        "heart mediastinum cardiomegaly silhouette",
        "lung opacity edema pneumonia atelectasis nodule",
        "effusion pneumothorax pleural",
        "bone spine rib fracture clavicle",
    )
)
