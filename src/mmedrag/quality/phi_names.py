"""Given names the PHI screen treats as the start of a person's name (generated: do not edit by hand).

1808 names from Faker's en_US, en_GB, en_IE, es_ES person providers (MIT), less common English words;
regenerate with ``benchmarks/make_phi_names.py``.
"""

from __future__ import annotations

_NAMES = """
    Aaron Aarón Abbi Abbie Abby Abdul Abel Abigail Abigaíl Abilio Abraham Abril Adalberto Adam Adela Adelaida
    Adelardo Adele Adelia Adelina Adolfo Adora Adoración Adrian Adriana Adrienne Adrián Adán Aedan Agapito Agustina
    Agustín Aidan Aideen Aiden Aileen Ailis Aimee Ainara Aine Ainoa Aisling Aislinn Aitana Aitor Alan Alana Alanis
    Alanna Alannah Alastair Albano Albert Alberto Albina Albino Alcides Ale Alec Alejandra Alejandro Alejo Alex
    Alexa Alexander Alexandra Alexandria Alexis Alfonso Alfred Alfredo Alice Alicia Alisha Alison Alistair Alister
    Alix Allan Allen Allison Alma Almudena Alondra Alonso Alvin Alyssa Amado Amador Amalia Amancio Amanda Amando
    Amarilis Amaro Amaya Ambrosio Amelia Amie Amor Amy América Américo Amílcar Anabel Anacleto Anastasia Anastasio
    Andre Andrea Andres Andrew Andrés Angela Angelica Angelina Angelino Angelita Angie Angus Angélica Ani Anita Anna
    Annalise Annette Annie Anselma Anselmo Anthony Antoin Antoinette Anton Antonia Antonio Antony Anunciación Aníbal
    Aodhan Aoibheann Aoibhin Aoibhinn Aoife Apolinar Apolonia Araceli Arcelia Ariadna Ariana Arianne Ariel Aristides
    Armando Armida Aroa Arran Arron Arsenio Artemio Arthur Arturo Aránzazu Ascensión Asdrubal Ashlee Ashleigh
    Ashlene Ashley Ashling Ashton Asunción Atilio Audrey Augusto Aura Aurelia Aureliano Aurelio Aurora Austin Ayesha
    Azahar Azahara Azeneth Azucena Bailey Bailie Baldomero Balduino Baltasar Barbara Barry Bartolomé Basilio
    Baudelio Bautista Beatriz Becky Begoña Belen Belinda Belén Benigna Benigno Benita Benito Benjamin Benjamín Benn
    Bernabé Bernadette Bernard Bernarda Bernardino Bernardita Bernardo Berta Berto Beth Bethan Bethany Betty
    Beverley Beverly Bianca Bibiana Bienvenida Billy Blaine Blake Blanaid Blas Bob Bobby Bonifacio Bonnie Borja Brad
    Bradley Brady Brandi Brandon Brandy Breandan Breanna Brenda Brendan Brent Brett Brian Briana Brianna Bridget
    Brigid Brittany Brittney Brogan Bronach Bronagh Brooke Brooklyn Bruce Brunilda Bryan Bryce Bryony Brígida
    Buenaventura Bárbara Cahal Cahir Cailin Cailum Caitlin Caitlyn Caitriona Cal Caleb Calista Calisto Calixta
    Calixto Callan Callum Calum Calvin Cameron Camila Camilo Candace Candela Candelaria Candelario Candelas Candice
    Caoilfhionn Caoimhe Caoimhin Caolain Caolan Caomhan Cara Caragh Caridad Carina Carl Carla Carlito Carlos Carlota
    Carly Carmel Carmela Carmelita Carmelo Carmen Carmina Carol Carole Carolina Caroline Carolyn Carrie Casandra
    Casemiro Casey Cassandra Cassidy Cassie Catalina Cathal Catherine Cathy Catriona Cayetana Cayetano Ceara Cebrián
    Cecilia Cecilio Ceferino Celestina Celestino Celia Celine Celso Cesar Chad Chantel Chantelle Charis Charlene
    Charles Charlie Charlotte Charo Che Chelo Chelsea Chelsey Chema Cherie Cherith Cheryl Cheyenne Chita Chloe Chris
    Christian Christie Christina Christine Christopher Christy Chucho Chus Chuy Cianan Ciara Ciaran Ciarrai Cillian
    Cindy Cintia Cipriano Ciriaco Cirino Ciríaco Claire Clare Clarence Clarisa Clarissa Clark Claudia Claudio
    Clayton Clemente Clementina Cleto Clifford Clinton Cliodhna Cliona Clive Clodagh Cloe Clotilde Clímaco Codie
    Cody Colin Colleen Collette Collin Colm Colton Colum Conal Conall Conan Concepción Concha Conchur Conn Connie
    Connor Conor Conrad Conrado Constance Constanza Consuela Cora Coral Corey Corinne Cormac Cornelio Corona Corrie
    Cortney Cory Cosme Courteney Courtney Craig Crescencia Cristian Cristina Cristóbal Curro Curtis Custodia
    Custodio Cynthia Cándida Cándido César Dafne Daire Dairine Dakota Dalila Dalton Damian Damien Damián Damon Dana
    Dani Daniel Daniela Danielle Danilo Danny Dara Darcy Darin Darius Darlene Darragh Darrell Darren Darryl Daryl
    Darío Dave David Dayna Deaglan Deane Deanna Dearbhail Dearbhaile Dearbhla Debbie Deborah Debra Declan Deirbhile
    Delfina Delia Demetrio Demi Denis Denise Dennis Derek Dermot Derrick Dervla Desiderio Desiree Desmond Devin
    Devon Diamond Diana Diane Diarmuid Diego Dillon Dimas Dionisia Dionisio Dionne Domhnall Dominga Domingo Dominic
    Dominique Domitila Donal Donald Donato Donna Dora Doris Dorita Dorotea Dorothy Douglas Duane Duilio Dulce Duncan
    Dustin Dwayne Dylan Débora Eadaoin Eamon Eamonn Ebony Eddie Edel Edelmira Edelmiro Edgar Edgardo Edmundo Edu
    Eduardo Edward Edwin Efraín Eileen Eilis Eilish Eimear Eimer Eimhear Eladio Elaine Elba Eleanor Elena Eleuterio
    Eli Eliana Eligia Eligio Elijah Elisa Elisabet Elise Eliseo Elisha Elizabeth Ella Ellen Ellie Elliot Elliott
    Elodia Eloise Eloy Eloísa Elpidio Elvira Elías Ema Emelina Emer Emigdio Emilia Emiliana Emiliano Emilie Emilio
    Emily Emma Emmet Emmett Emperatriz Encarna Encarnacion Encarnación Encarnita Enda Enrique Enya Eoghan Eoin
    Epifanio Erasmo Eric Erica Erik Erika Erin Ernest Ernesto Eryn Esmeralda Espiridión Esteban Estefanía Estela
    Ester Esther Etelvina Ethan Euan Eufemia Eugene Eugenia Eugenio Eulalia Eunan Eusebia Eustaquio Eutimio Eutropio
    Eva Evan Evangelina Evaristo Eve Evelia Evelyn Evie Evita Ewan Ezequiel Fabiana Fabio Fabiola Fabián Fabricio
    Fainche Fanny Faustino Fausto Faye Feargal Fearghal Febe Federico Felicia Feliciana Feliciano Felicidad Felipa
    Felipe Felisa Felix Fergal Fergus Fermín Fernanda Fernando Fidela Filomena Finbar Finn Fintan Fiona Fionntan
    Fionnuala Fito Flavia Flavio Flora Florencia Florencio Florentina Florentino Florina Florinda Fortunata
    Fortunato Frances Francesca Francis Francisca Francisco Franklin Frazer Fred Frederick Freya Fulgencio Fátima
    Félix Gabino Gabriel Gabriela Gabriella Gabrielle Gail Gala Galo Gareth Garrett Garry Gary Gaspar Gastón Gavin
    Gema Gemma Genoveva Geoffrey George Georgia Georgina Gerald Geraldine Geraldo Gerard Gerardo Germán Gertrudis
    Gervasio Gerónimo Gil Gilbert Gilberto Giles Gillian Gina Gisela Glauco Glenda Glenn Godofredo Gonzalo Gordon
    Goyo Gracia Graciana Graciano Graciela Graeme Graham Grainne Greg Gregg Gregorio Gregory Griselda Guadalupe
    Guillermo Guiomar Gustavo Gwendolyn Hailey Haley Hamish Hannah Harold Haroldo Harriet Harry Harvey Hayden Haydée
    Hayleigh Hayley Hector Heidi Helen Helena Heliodoro Henry Heraclio Herbert Herberto Heriberto Hermenegildo
    Herminia Herminio Hernando Hernán Hilario Hilary Hilda Hipólito Hollie Horacio Hortensia Howard Hugh Hugo
    Humberto Héctor Iain Ian Ibán Ignacia Ignacio Iker Ildefonso Ileana Imelda India Inmaculada Inocencio Inés Iona
    Irene Irma Isa Isaac Isabel Isabela Isabella Isaiah Isaura Isaías Isidora Isidoro Isidro Ismael Itziar Ivan Iván
    Jacinta Jacinto Jackie Jackson Jaclyn Jacob Jacobo Jacqueline Jafet Jaime Jake James Jamie Jana Jane Janet
    Janice Janine Jared Jarlath Jasmin Jasmine Jason Javi Javier Javiera Jay Jayde Jayne Jeanette Jeanne Jeff
    Jeffery Jeffrey Jemma Jena Jenaro Jenna Jenni Jennifer Jenny Jeremiah Jeremy Jeremías Jermaine Jerome Jerry
    Jerónimo Jesse Jessica Jesus Jesusa Jesús Jill Jillian Jim Jimena Jimmy Joann Joanna Joanne Joaquina Joaquín
    Jocelyn Jodi Jodie Jody Joel Johanna John Johnathan Johnny Jolene Jon Jonatan Jonathan Jonathon Jordan Jordana
    Jordi Jordon Jordán Jorge Jose Josefa Josefina Josep Joseph Josephine Josh Joshua Josué José Jovita Joyce Juan
    Juana Juanita Juanito Jude Judith Judy Julia Julian Juliana Julie Julieta Julio Julián Justin Justine Kaitlin
    Kaitlyn Kane Kara Karen Kari Karina Karl Karla Karley Kate Katelyn Katharine Katherine Kathleen Kathryn Kathy
    Katie Katrina Katy Kayla Kaylee Kayleigh Kealan Keelan Keely Keeva Keith Kelli Kellie Kelly Kelsey Kelvin Kendra
    Kenneth Kent Keri Kerri Kerrie Kerry Kevin Kiara Kiera Kieran Kike Killian Kim Kimberley Kimberly Kira Kirby
    Kirk Kirsten Kirstie Kirstin Kirsty Kori Krista Kristen Kristi Kristian Kristie Kristin Kristina Kristine
    Kristopher Kristy Krystal Kurt Kurtis Kyle Kylie Lacey Lalo Lana Laoise Lara Larry Latasha Latoya Laura Lauren
    Laurie Lawrence Leah Leandra Leandro Leanne Leigh Leire Leo Leocadia Leocadio Leon Leona Leonard Leonardo
    Leoncio Leonel Leonie Leonor Leopoldo Leroy Lesley Leslie Leticia Levi Lewis Leyre León Liam Lidia Ligia Lilia
    Liliana Lina Linda Lindsay Lindsey Lino Lisa Lisandro Lloyd Logan Loida Lois Lola Lonnie Lope Lorcan Lorenza
    Lorenzo Loreto Loretta Lori Lorna Lorraine Louis Louise Lucas Lucho Lucia Luciana Luciano Lucila Lucinda Lucio
    Lucy Lucía Luis Luisa Luisina Luke Lupe Lupita Luís Lydia Lynda Lyndon Lyndsay Lyndsey Lynn Lynne Lynsey Lázaro
    Macarena Macaria Macario Macauley Mackenzie Madeline Madison Maeve Magdalena Mairead Mairtin Maite Makayla
    Malachy Malcolm Malena Malik Mamen Mandy Manola Manolo Manu Manuel Manuela Manuelita Manus Marc Marcela
    Marcelino Marcelo Marcia Marcial Marciano Marcio Marco Marcos Marcus Margaret Margarita Maria Mariah Marian
    Mariana Marianela Mariano Maribel Maricela Maricruz Marilyn Marino Mario Marion Marisa Marisela Marisol Marissa
    Maristela Marita Marta Martha Martin Martina Martirio Martyn Martín Marvin Mary María Mateo Mathew Matilde
    Matthew Matías Maura Maureen Maurice Mauricio Maxi Maximiano Maximiliano Maximino Maxwell Mayte Mckenzie Meabh
    Meagan Meaghan Meg Megan Meghan Meibh Melania Melanie Melchor Melinda Melisa Melissa Melvin Merche Meredith Mia
    Micaela Michael Michaela Micheal Micheala Michele Michelle Miguel Miguela Mikayla Mike Mindy Miranda Mireia
    Miriam Mirta Mitchel Mitchell Modesta Modesto Mohamed Mohammad Mohammed Moisés Mollie Molly Monica Monique
    Montserrat Morena Moreno Morgan Myles Máxima Máximo Mónica Nacho Nacio Nadia Nadine Nancy Nando Naoimh Naoise
    Naomh Naomi Narcisa Narciso Natalia Natalie Natalio Natanael Natasha Nathan Nathaniel Natividad Nayara Nazaret
    Nazario Neil Nerea Nereida Niall Niamh Nicanor Nichola Nicholas Nichole Nico Nicodemo Nicola Nicolas Nicolasa
    Nicole Nicolás Nidia Nigel Nikita Nikki Nilda Nilo Nina Noa Noah Noel Noelia Noemí Nora Norberto Norma Norman
    Noé Nuala Nuria Nydia Nélida Néstor Obdulia Octavia Octavio Odalis Odalys Odhran Ofelia Oisin Olalla Olegario
    Olga Olimpia Oliver Olivia Omar Onofre Oonagh Oran Orfhlaith Oriana Orla Orlagh Orlaigh Orlaith Oscar Osvaldo
    Otilia Ovidio Owen Pablo Paca Paco Pacífica Padraic Padraig Padraigin Paige Palmira Pam Pamela Pancho Paola
    Pascual Pascuala Pastor Pastora Patrice Patricia Patricio Patrick Patty Paul Paula Paulina Pauline Paulino
    Pauric Peadar Pearce Pearse Pedro Peggy Pelayo Pepe Pepita Pepito Perlita Perry Peter Petrona Philip Phillip
    Phoebe Phyllis Piaras Piedad Pili Plinio Plácido Polly Poncio Porfirio Preston Primitiva Primitivo Priscila
    Priscilla Prudencia Prudencio Purificación Pánfilo Pía Pío Quique Quirino Rachael Rachel Rachelle Rafa Rafael
    Rafaela Raimundo Ralph Ramona Ramón Randall Randy Raquel Raven Raymond Raúl Rebeca Rebecca Rebekah Reece Regan
    Regina Reginald Reinaldo Remigio Renata Renato Renee René Reuben Reyes Reyna Reynaldo Rhian Rhianna Rhianne
    Rhiannon Rhonda Rhys Rian Ricarda Ricardo Richard Rick Rickey Ricky Rico Riley Rita Robbie Robert Roberta
    Roberto Robin Robyn Rocío Rodney Rodolfo Rodrigo Rogelio Roger Rohan Roise Roisin Rolando Roldán Román Ronald
    Ronan Ronnie Roque Rory Rosa Rosalina Rosalinda Rosalva Rosalía Rosaura Roseanna Rosemary Rosenda Rosendo Rosie
    Ross Roxana Roy Ruairi Ruari Ruben Rubén Rufina Rufino Ruperta Ruperto Russell Ruth Ruy Ryan Régulo Rómulo Sabas
    Sabina Sabrina Sacha Sally Salomé Salomón Salvador Sam Samanta Samantha Samu Samuel Sancho Sandalio Sandra
    Santiago Santos Saoirse Sara Sarah Sarita Sasha Saskia Saturnina Saturnino Saul Savannah Scot Scott Seamus Sean
    Seana Seanan Seaneen Seanna Sebastian Sebastián Segismundo Selena Selina Seona Serafina Serena Sergio Seth Seve
    Severiano Severino Severo Shane Shania Shanice Shanna Shannan Shannen Shannon Shari Sharon Shaun Shauna Shauneen
    Shawn Shawna Shay Shea Sheena Sheila Shelby Shelia Shelley Shelly Sheree Sheri Sherri Sherry Sheryl Shirley
    Shona Sian Sigfrido Silvestre Silvia Silvio Simon Simone Simón Sinead Siobhan Siofra Sofía Sonia Sonya Sophia
    Sophie Soraya Sorcha Sosimo Spencer Stacey Stacie Stacy Stanley Stefan Stefanie Stephanie Stephen Steve Steven
    Stewart Stuart Susan Susana Susanita Susanna Susannah Suzanne Sydney Sylvia Tabitha Tamara Tami Tammie Tammy
    Tania Tanner Tanya Tara Tasha Tatiana Taylor Tecla Telmo Teo Teobaldo Teodora Teodoro Teodosio Tere Terence
    Teresa Teresita Terrance Terrence Terri Terry Tess Tessa Teófila Teófilo Theodore Theresa Therese Thomas Tia
    Tiarna Tiarnan Tiburcio Tiegan Tiernan Tiffany Tim Timoteo Timothy Tina Tito Tobias Toby Todd Tom Tomas Tomasa
    Tommy Tomás Toni Tonicha Tony Tonya Tori Toribio Tory Toño Tracey Traci Tracie Tracy Travis Trevor Tricia Trini
    Tristan Tristán Troy Tyler Tyrone Ulises Una Urbano Ursula Valentina Valentín Valeria Valerie Valerio Valero
    Vanesa Vanessa Vasco Venceslás Vera Vernon Veronica Verónica Vicenta Vicente Vicki Vickie Victor Victoriano
    Victorino Vidal Vilma Vincent Vinicio Violeta Virgilio Virginia Visitación Vito Viviana Víctor Walter Wanda
    Warren Wayne Wendy Wesley Whitney Wilfredo William Willie Wyatt Wálter Xavier Ximena Xiomara Yago Yaiza Yasmin
    Yasmine Yesenia Yolanda Yvette Yvonne Yésica Yéssica Zac Zacarías Zach Zachary Zaida Zaira Zak Zara Zoe Zoraida
    África Ágata Águeda Álvaro Ámbar Ángel Ángela Ángeles Áurea Édgar Íngrid Íñigo Óscar Úrsula
"""
GIVEN_NAMES: frozenset[str] = frozenset(_NAMES.split())
