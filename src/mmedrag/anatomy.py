"""Body regions: which part of the body a question, a report or a DICOM header speaks of, and which regions one
study shows together. Used to keep a reference about another part of the body from answering (a humerus lesion is
no evidence about the liver).

The regions follow the top level of DICOM PS3.16 CID 4031 "Common Anatomic Regions" and the Body Part Examined
defined terms of PS3.16 Annex L, merged to the eleven a yes/no reading needs. Words are whole words (organs, bones,
joints, region names); a word that names places in two regions maps to both ("cervical": neck, spine, uterine
cervix), and words whose meaning depends on the phrase are left out ("sinus", "lobe", "disc", "fundus", "ventricle",
"parietal") or read only in their unambiguous phrases ("head", "neck"). Nothing here drops anything by itself: an
unknown region is compatible with every region.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

REGIONS: tuple[str, ...] = (
    "head",
    "neck",
    "chest",
    "breast",
    "abdomen",
    "pelvis",
    "spine",
    "upper_limb",
    "lower_limb",
    "eye",
    "skin",
)

# Words -> regions (a word listed under two regions belongs to both). Plurals are found by stripping "s"/"es".
_WORDS: dict[str, str] = {
    "head": """brain brains cerebral cerebrum cerebellum cerebellar intracranial cranial cranium skull calvarium
        calvaria calvarial pituitary sella sellar suprasellar pons pontine midbrain brainstem thalamus
        thalamic hypothalamus hippocampus hippocampal meninges meningeal subdural subarachnoid epidural
        cerebrospinal occipital temporal supratentorial infratentorial intraventricular periventricular
        callosum gyrus sulci frontoparietal face facial mandible mandibular maxilla maxillary jaw nasal nose
        sinuses paranasal sphenoid ethmoid mastoid cochlea cochlear tooth teeth dental tongue orbit orbits
        orbital choroid optic neuro scalp craniocervical ear ears auditory tympanic falx tentorium tentorial
        intracranially intraaxial extraaxial hemisphere hemispheres olfactory cerebellopontine pineal sylvian
        vermis tectum tectal putamen insula insular dura dural leptomeningeal""",
    "neck": """cervical thyroid larynx laryngeal pharynx pharyngeal nasopharynx nasopharyngeal oropharynx
        oropharyngeal hypopharynx parotid submandibular carotid jugular tonsil tonsils tonsillar epiglottis
        retropharyngeal supraclavicular trachea tracheal esophagus esophageal craniocervical""",
    "chest": """chest thorax thoracic intrathoracic lung lungs pulmonary pleura pleural mediastinum mediastinal
        heart cardiac pericardium pericardial myocardium myocardial hilar hilum perihilar bronchus bronchi bronchial
        bronchiectasis trachea tracheal carina cardiopulmonary cardiomediastinal cardiomegaly costophrenic
        pneumothorax pneumonia atelectasis rib ribs sternum sternal clavicle clavicles scapula scapular axilla
        axillary diaphragm hemidiaphragm diaphragmatic aorta aortic coronary esophagus esophageal lingula
        lingular retrocardiac""",
    "breast": """breast breasts mammary nipple axilla axillary mammogram mammographic""",
    "abdomen": """abdomen abdominal abd liver hepatic hepatomegaly spleen splenic splenomegaly pancreas
        pancreatic kidney kidneys renal adrenal adrenals gallbladder biliary bile cholecystitis stomach gastric
        bowel intestine intestinal colon colonic duodenum duodenal jejunum jejunal ileum ileal cecum cecal
        appendix appendiceal appendicitis mesentery mesenteric peritoneum peritoneal intraperitoneal
        retroperitoneum retroperitoneal ascites diaphragm hemidiaphragm diaphragmatic aorta aortic esophagus
        esophageal ureter ureters ureteral gastrointestinal genitourinary portal hepatobiliary umbilical
        epigastric kub""",
    "pelvis": """pelvis pelvic bladder uterus uterine ovary ovaries ovarian adnexa adnexal prostate prostatic
        rectum rectal sigmoid cervix vagina vaginal testis testes testicle testicular scrotum scrotal acetabulum
        acetabular iliac sacroiliac pubic pubis symphysis ischium ischial hip hips femoral colon colonic appendix
        appendiceal appendicitis ureter ureters ureteral genitourinary cervical sacrum sacral coccyx inguinal
        endometrium endometrial kub""",
    "spine": """spine spinal vertebra vertebrae vertebral intervertebral paraspinal lumbar lumbosacral
        thoracolumbar cervicothoracic sacrum sacral coccyx thecal cervical epidural subarachnoid cerebrospinal
        craniocervical dura dural leptomeningeal""",
    "upper_limb": """arm arms humerus humeral elbow elbows forearm radius ulna ulnar wrist wrists hand hands
        finger fingers thumb thumbs carpal carpus metacarpal scaphoid shoulder shoulders glenoid glenohumeral
        rotator deltoid biceps triceps olecranon acromion acromioclavicular clavicle clavicles scapula scapular
        axilla axillary""",
    "lower_limb": """leg legs thigh thighs femur femora femoral knee knees patella patellar tibia tibial fibula
        fibular ankle ankles foot feet toe toes calcaneus calcaneal talus tarsal metatarsal hip hips meniscus
        menisci cruciate achilles popliteal calf quadriceps hamstring""",
    "eye": """eye eyes ocular intraocular retina retinal macula macular cornea corneal vitreous conjunctiva
        conjunctival retrobulbar orbit orbits orbital optic choroid choroidal ophthalmic""",
    "skin": """skin cutaneous subcutaneous dermal epidermal dermis nevus nevi""",
}
WORD_REGIONS: dict[str, frozenset[str]] = {}
for _region, _text in _WORDS.items():
    for _word in _text.split():
        WORD_REGIONS[_word] = WORD_REGIONS.get(_word, frozenset()) | {_region}

# "head" and "neck" also name parts of bones and organs ("femoral head", "neck of the gallbladder"): they count only
# when no such word is next to them.
_PART_OF = frozenset(
    """femoral femur humeral humerus radial fibular metatarsal metacarpal pancreatic pancreas gallbladder bladder
    tooth rib mandibular condylar of""".split()  # noqa: SIM905 - a word list reads better as text
)
_REGION_NOUNS: dict[str, frozenset[str]] = {"head": frozenset({"head"}), "neck": frozenset({"neck"})}

# DICOM Body Part Examined defined terms (PS3.16 Annex L), with the region codes of VQA-RAD ("ABD") and MedPix
# ("Head and Neck", ...) that read the same way; other values go through the word map.
BODY_PARTS: dict[str, frozenset[str]] = {
    code: frozenset(regions.split())
    for code, regions in {
        "SKULL": "head",
        "HEAD": "head",
        "BRAIN": "head",
        "FACE": "head",
        "JAW": "head",
        "TMJ": "head",
        "SINUS": "head",
        "EAR": "head",
        "IAC": "head",
        "HEADNECK": "head neck",
        "NECK": "neck",
        "LARYNX": "neck",
        "THYROID": "neck",
        "CSPINE": "spine neck",
        "TSPINE": "spine chest",
        "LSPINE": "spine abdomen",
        "LSSPINE": "spine abdomen pelvis",
        "SSPINE": "spine pelvis",
        "SPINE": "spine",
        "WHOLESPINE": "spine",
        "COCCYX": "spine pelvis",
        "CHEST": "chest",
        "THORAX": "chest",
        "LUNG": "chest",
        "HEART": "chest",
        "RIB": "chest",
        "STERNUM": "chest",
        "CLAVICLE": "chest upper_limb",
        "SCAPULA": "chest upper_limb",
        "BREAST": "breast",
        "CHESTABDOMEN": "chest abdomen",
        "CHESTABDPELVIS": "chest abdomen pelvis",
        "ABDOMEN": "abdomen",
        "ABD": "abdomen",
        "LIVER": "abdomen",
        "KIDNEY": "abdomen",
        "PANCREAS": "abdomen",
        "ABDOMENPELVIS": "abdomen pelvis",
        "ABDPELVIS": "abdomen pelvis",
        "PELVIS": "pelvis",
        "HIP": "pelvis lower_limb",
        "BLADDER": "pelvis",
        "PROSTATE": "pelvis",
        "UTERUS": "pelvis",
        "SHOULDER": "upper_limb chest",
        "ARM": "upper_limb",
        "HUMERUS": "upper_limb",
        "ELBOW": "upper_limb",
        "FOREARM": "upper_limb",
        "WRIST": "upper_limb",
        "HAND": "upper_limb",
        "FINGER": "upper_limb",
        "THUMB": "upper_limb",
        "UPRXM": "upper_limb",
        "LEG": "lower_limb",
        "FEMUR": "lower_limb",
        "THIGH": "lower_limb",
        "KNEE": "lower_limb",
        "TIBIA": "lower_limb",
        "FIBULA": "lower_limb",
        "ANKLE": "lower_limb",
        "FOOT": "lower_limb",
        "HEEL": "lower_limb",
        "TOE": "lower_limb",
        "LOWEXM": "lower_limb",
        "EXTREMITY": "upper_limb lower_limb",
        "EYE": "eye",
        "ORBIT": "eye head",
        "SKIN": "skin",
    }.items()
}

# Regions one study commonly shows, or one report commonly speaks of, together: a chest radiograph or CT shows the
# lower neck, the shoulders, the breasts, the upper abdomen and the thoracic spine; an abdominal CT the lung bases,
# the lumbar spine and the pelvis; a pelvic study the hips; a head CT or MRI the orbits and the upper neck. Skin
# covers every region. Made symmetric below.
_NEIGHBOURS: dict[str, frozenset[str]] = {
    region: frozenset(neighbours.split())
    for region, neighbours in {
        "head": "neck eye",
        "neck": "head chest spine",
        "chest": "neck breast abdomen spine upper_limb",
        "breast": "chest",
        "abdomen": "chest pelvis spine",
        "pelvis": "abdomen spine lower_limb",
        "spine": "neck chest abdomen pelvis",
        "upper_limb": "chest",
        "lower_limb": "pelvis",
        "eye": "head",
        "skin": " ".join(r for r in REGIONS if r != "skin"),
    }.items()
}
ADJACENT: dict[str, frozenset[str]] = {
    region: _NEIGHBOURS[region] | {other for other, near in _NEIGHBOURS.items() if region in near} for region in REGIONS
}

_WORD = re.compile(r"[a-z]+")
# Vertebral levels ("C1", "T11", "L4-L5"); T1 and T2 are left out, they name MRI weightings far more often.
_LEVEL = re.compile(r"\b(?:c[1-7]|t(?:[3-9]|1[0-2])|l[1-5])\b")


_SPINE = frozenset({"spine"})


def _lookup(word: str) -> frozenset[str]:
    for candidate in (word, word[:-1] if word.endswith("s") else "", word[:-2] if word.endswith("es") else ""):
        if candidate and candidate in WORD_REGIONS:
            return WORD_REGIONS[candidate]
    return frozenset()


def region_words(text: str) -> dict[str, frozenset[str]]:
    """The words of ``text`` that name a body region, each with its regions (``{"humerus": {"upper_limb"}}``)."""
    lowered = text.lower().replace("x-ray", "xray")
    tokens = _WORD.findall(lowered)
    found: dict[str, frozenset[str]] = {level: _SPINE for level in _LEVEL.findall(lowered)}
    for i, token in enumerate(tokens):
        if token in _REGION_NOUNS:
            before = tokens[i - 1] if i else ""
            after = tokens[i + 1] if i + 1 < len(tokens) else ""
            if before not in _PART_OF and after not in {"of"} | _PART_OF:
                found[token] = _REGION_NOUNS[token]
            continue
        regions = _lookup(token)
        if regions:
            found[token] = regions
    return found


def regions_in(text: str) -> frozenset[str]:
    """Every region ``text`` names (empty when it names none)."""
    return frozenset().union(*region_words(text).values())


def body_part_regions(value: str) -> frozenset[str]:
    """The regions of a Body Part Examined value (DICOM defined term or free text such as "Chest, Pulmonary")."""
    code = re.sub(r"[^A-Z]", "", value.upper())
    return BODY_PARTS.get(code) or regions_in(value)


def compatible(first: Iterable[str], second: Iterable[str]) -> bool:
    """Whether two sets of regions can describe one study: a shared or adjacent region, or either set unknown."""
    a, b = frozenset(first), frozenset(second)
    if not a or not b or a & b:
        return True
    return any(ADJACENT.get(region, frozenset()) & b for region in a)


def metadata_regions(metadata: Mapping[str, object], keys: Iterable[str]) -> dict[str, frozenset[str]]:
    """The regions named by the given metadata fields (``{"BodyPartExamined": {"chest"}}``), known ones only."""
    found: dict[str, frozenset[str]] = {}
    for key in keys:
        value = metadata.get(key)
        if isinstance(value, str) and value.strip() and (regions := body_part_regions(value)):
            found[key] = regions
    return found
