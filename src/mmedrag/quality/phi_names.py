"""Given names the PHI screen treats as the start of a person's name (generated: do not edit by hand).

4608 names from Faker's person providers (MIT) for 12 locales, less ordinary words;
regenerate with ``benchmarks/make_phi_names.py``.
"""

from __future__ import annotations

_NAMES = """
    Aachal Aadhya Aadi Aahana Aaliyah Aarav Aarini Aarna Aarnav Aaron Aarush Aarón Aashi Aayush Abbas Abbi Abbie
    Abby Abdul Abdullah Abeer Abel Abelardo Abha Abhimanyu Abhiram Abigail Abigaíl Abilio Abraham Abram Abril
    Achille Achim Ada Adalbert Adalberto Adam Adamo Adela Adelaida Adelardo Adelasia Adelbert Adele Adelgunde
    Adelheid Adelia Adelina Adelinde Adeline Adelmo Adem Adina Aditya Adolf Adolfine Adolfo Adora Adoración Adrian
    Adriana Adriane Adrianna Adriano Adrien Adrienne Adrián Advaith Advay Advik Advika Adweta Adya Adán Adèle
    Adélaïde Aedan Aenne Agapito Agastya Agata Agatha Agathe Agnes Agnieszka Agnolo Agnès Agostino Agustina Agustín
    Ahmad Ahmed Ahmet Aida Aidan Aideen Aiden Aileen Ailis Aimee Aimé Aimée Ainara Aine Ainoa Aishani Aisling
    Aislinn Aitana Aitor Akshay Alain Alan Alana Alanis Alanna Alannah Alastair Alban Albano Alberico Albert
    Albertine Alberto Albin Albina Albino Albrecht Alcides Alderano Aldo Aldonza Ale Alec Alejandra Alejandro Alejo
    Aleks Aleksandar Aleksander Aleksandr Aleksandra Aleksej Alena Alessandra Alessandro Alessia Alessio Alex Alexa
    Alexander Alexandra Alexandre Alexandria Alexandrie Alexandros Alexei Alexej Alexia Alexis Alf Alfio Alfons
    Alfonso Alfred Alfredo Ali Alice Alicia Alicja Alida Alina Aline Alisha Alison Alistair Alister Alix Alka Alla
    Allan Allana Allegra Allen Allison Alma Almudena Almut Almuth Alois Aloisia Alondra Alonso Aloys Alphons
    Alphonse Alvaro Alvin Alwin Alwina Alwine Alyssa Alícia Amada Amadeo Amado Amador Amaira Amalia Amalie Amancio
    Amanda Amando Amara Amarilis Amaro Amaya Amber Ambrosio Amedeo Amelia Amelie Amico Amie Amin Amina Amir Amira
    Amleto Amol Amor Amrita Amruta Amy Amélie América Américo Amílcar Ana Anabel Anacleto Anamika Anastasia
    Anastasie Anastasio Anastasios Anastazja Anatol Anatoli Anatolij Anay Anaïs Andre Andrea Andreas Andree Andrei
    Andrej Andres Andrew Andrey Andrzej André Andrée Andrés Andy Anel Aneta Anett Anette Angela Angelica Angelika
    Angelina Angelino Angelique Angelita Angelo Angie Angus Angélica Ani Anica Aniela Anika Anirudh Anita Anja
    Anjali Anka Anke Anmol Ann Anna Annabel Annaliese Annalisa Annalise Annamaria Anne Annedore Annegret Annegrete
    Annekatrin Anneke Annelene Anneli Annelie Annelies Anneliese Annelise Annelore Annemarie Annemie Annemijn
    Annerose Annett Annetta Annette Anni Annibale Annie Annika Annita Annunziata Anny Anouk Ansaldo Anselm Anselma
    Anselmo Ansgar Ansh Ante Anthony Antje Anto Antoin Antoine Antoinette Anton Antonella Antonello Antoni Antonia
    Antonie Antonietta Antonina Antonino Antonio Antonios Antonius Antony Antônio Anunciación Anusha Anvi Anya
    Aníbal Aodhan Aoibheann Aoibhin Aoibhinn Aoife Apolinar Apollo Apollonia Apolonia Apostolos Araceli Aradhana
    Arcelia Aria Ariadna Ariana Ariane Arianne Aribert Arie Ariel Arif Arin Aristides Arjun Arkadiusz Armando Armida
    Armin Arnaldo Arnaude Arnd Arndt Arne Arnfried Arnim Arno Arnold Arnulf Arnulfo Aroa Aron Arran Arron Arsenio
    Artemio Arthur Artur Arturo Arunima Arya Aryan Arzu Aránzazu Asafe Ascensión Asdrubal Ashlee Ashleigh Ashlene
    Ashley Ashling Ashton Asta Astrid Asunción Atenulf Athanasios Atharv Ati Atilio Attila Audrey Augusta Auguste
    Augustin Augusto Aura Aurelia Aureliano Aurelio Aurora Aurore Aurélie Austin Avi Avni Axel Aya Ayaan Ayden
    Ayesha Ayla Aylin Aylla Aynur Ayoub Ayse Aysel Ayten Ayush Ayushman Azaan Azad Azahar Azahara Azeglio Azeneth
    Aziz Azra Azucena Babett Babette Baccio Bachittar Baghyawati Bahadurjit Bailey Bailie Bakhshi Baldassare
    Baldomero Balduino Baldur Balendra Balhaar Baljiwan Baltasar Balthasar Balvan Balveer Banjeet Baptist Barbara
    Barkha Barry Bart Bartek Bartholomäus Bartolomeo Bartolomé Bas Basilio Bastiaan Bastian Baudelio Bautista Bayram
    Beata Beate Beatrice Beatrix Beatriz Beau Becky Begoña Bekir Bela Belen Belinda Bella Belén Ben Benedetto
    Benedikt Benicio Benigna Benigno Benita Benito Benjamim Benjamin Benjamín Benn Benno Benoît Bente Benthe Bento
    Benvenuto Benício Beppe Berat Berend Berenice Berit Bernabé Bernadette Bernard Bernarda Bernardino Bernardita
    Bernardo Bernd Berndt Bernfried Bernhard Bernhardine Bernt Bernward Bert Berta Bertha Berthold Berto Bertold
    Bertram Bertrand Beth Bethan Bethany Betina Betti Bettina Betty Beverley Beverly Bhanumati Bhavani Bhavika
    Bhavini Bhavna Bhavya Biagio Bianca Bianka Bibi Bibiana Bienvenida Bilal Billy Bimala Bina Birger Birgid Birgit
    Birgitt Birgitta Birte Birthe Bishakha Bjorn Björn Blaine Blake Blanaid Blanca Blanka Blas Boaz Bob Bobby Bodo
    Bogdan Bonifacio Bonnie Boris Borja Borys Bozena Brad Bradley Brady Bram Brandi Brandon Brandy Branka Branko
    Brayan Breandan Breanna Brenda Brendan Breno Brent Brett Brian Briana Brianna Bridget Brigid Brigitta Brigitte
    Brijesh Brinda Brit Brita Britt Britta Brittany Brittney Brogan Bronach Bronagh Brooke Brooklyn Bruce Bruna
    Brunhild Brunhilde Bruni Brunilda Bruno Bryan Bryce Bryony Brígida Buenaventura Burckhard Burghard Burkard
    Burkhard Burkhardt Bárbara Bärbel Błażej Cahal Cahir Cailin Cailum Caio Caitlin Caitlyn Caitriona Cal Calcedonio
    Caleb Calebe Calista Calisto Calixta Calixto Callan Callum Calogero Calum Calvin Cameron Camila Camilla Camille
    Camillo Camilo Canan Candace Candela Candelaria Candelario Candelas Candice Caoilfhionn Caoimhe Caoimhin Caolain
    Caolan Caomhan Capucine Cara Caragh Caren Caridad Carin Carl Carla Carlijn Carlito Carlo Carlos Carlota Carly
    Carmel Carmela Carmelita Carmelo Carmen Carmina Carmine Carol Carola Carole Carolin Carolina Caroline Carolyn
    Carrie Carsten Carter Cas Casandra Casemiro Casey Casper Cassandra Cassidy Cassie Catalina Catarina Caterina
    Cathal Catharina Catherine Cathleen Cathrin Cathy Cato Catrin Catriona Cauã Cauê Cayetana Cayetano Ceara Cebrián
    Cecilia Cecilio Cecília Ceferino Celal Celestina Celestino Celia Celine Celso Cemal Cemil Cengiz Centa Cesar
    Cesare Cetin Ceylin Cezary Chaaya Chad Chaitaly Chaitanya Chakradev Chakradhar Chakrika Chaman Chameli Champak
    Chanakya Chanchal Chandani Chandran Chandresh Chantal Chantel Chantelle Charan Charis Charita Charlene Charles
    Charlie Charlotte Charo Charvi Chasmum Chatresh Chatura Chavvi Che Chelo Chelsea Chelsey Chema Cherie Cherith
    Cheryl Cheyenne Chiara Chita Chloe Chloé Chloë Chris Christa Christel Christelle Christian Christiana Christiane
    Christie Christin Christina Christine Christl Christof Christoph Christophe Christopher Christos Christy Chucho
    Chus Chuy Cianan Ciara Ciaran Ciarrai Cilli Cillian Cilly Cindy Cintia Cipriano Ciriaco Cirillo Cirino Ciro
    Ciríaco Citlali Claas Claire Clara Clare Clarence Clarice Clarisa Clarissa Clark Claude Claudia Claudine Claudio
    Claudius Claus Clayton Clelia Clemens Clemente Clementina Cleto Clifford Clinton Cliodhna Cliona Clive Clodagh
    Cloe Clotilde Cläre Clémence Clímaco Codie Cody Cole Colette Colin Colleen Collette Collin Colm Colton Coluccio
    Colum Conal Conall Conan Concepción Concetta Concha Conchita Conchur Conn Connie Connor Conny Conor Conrad
    Conrado Constance Constantin Constanza Constanze Consuela Consuelo Cora Coral Cordula Corey Corina Corinna
    Corinne Coriolano Cormac Cornelia Cornelio Cornelis Cornelius Corona Corrado Corrie Cortney Cory Cosima Cosimo
    Cosme Costantino Costanzo Courteney Courtney Craig Crescencia Cristal Cristian Cristina Cristobal Cristóbal
    Crystal Curro Curt Curtis Custodia Custodio Cynthia Cyprian Czeslaw Cándida Cándido Cäcilia Cäcilie Cécile
    Célina Céline César Daan Dafne Dagmar Dagmara Dagobert Daire Dairine Daisy Dajana Dakota Daksh Daksha Dakshesh
    Dalaja Dalbir Dalia Dalila Dalton Damaris Damian Damiano Damien Damini Damián Damon Damyanti Dan Dana Dani
    Danica Daniel Daniela Daniele Danielle Danilo Danique Daniël Danny Dante Danuta Daphne Dara Darcy Daria Darika
    Darin Dario Darius Dariusz Darko Darlene Darpan Darragh Darrell Darren Darryl Darsh Daryl Darío Dave Davi David
    Dawid Dawn Dayamai Dayita Dayna Deaglan Dean Deane Deanna Dearbhail Dearbhaile Dearbhla Debbie Deborah Debra
    Declan Deepa Deirbhile Delfina Delfino Delia Demetrio Demi Denis Denise Dennis Denny Derek Dermot Derrick Dervla
    Desiderio Desiree Desmond Destiny Detlef Detlev Dev Devansh Devika Devin Devon Dewi Dex Dhriti Dhruv Diamond
    Diana Diane Diarmuid Diedrich Diego Dierk Dieter Diethard Diethelm Diether Dietlind Dietlinde Dietmar Dietrich
    Dillon Dimas Dimitri Dimitrios Dina Dino Diogo Dion Dionigi Dionisia Dionisio Dionne Dipta Dirk Ditmar Dittmar
    Divya Diya Dogan Dolores Dom Domenico Domhnall Dominga Domingo Dominic Dominik Dominique Domitila Donal Donald
    Donata Donatella Donatello Donato Donna Dora Doreen Dorina Doris Dorit Dorita Dorle Dorota Dorotea Dorothe
    Dorothea Dorothee Dorothy Dorothée Douglas Dragan Dragica Drago Drew Duane Duilio Dulce Duncan Dunja Durante
    Dursun Dusan Dustin Duuk Dwayne Dylan Dylano Débora Dörte Dörthe Eadaoin Eamon Eamonn Eberhard Eberhardt Ebony
    Eckard Eckart Eckehard Eckhard Eckhardt Eckhart Ecrin Edda Eddie Edel Edelbert Edelgard Edelmira Edelmiro
    Edeltraud Edeltraut Edeltrud Eden Edgar Edgardo Edhitha Edit Edith Editha Edmund Edmundo Edoardo Edu Eduard
    Eduarda Eduardo Edward Edwin Eesha Efraín Egbert Eggert Egon Ehrenfried Ehrentraud Ehrhard Eileen Eilis Eilish
    Eimear Eimer Eimhear Eiravati Eitel Ekaja Ekalinga Ekani Ekansh Ekanta Ekantika Ekapad Ekaraj Ekaterina Ekavir
    Ekbal Ekiya Ekkehard Ekkehart Ekrem Ekta Eladio Elaine Elba Eleanor Eleanora Elena Eleni Elenore Eleonora
    Eleonore Eleuterio Elfi Elfie Elfriede Eli Eliana Elias Elif Eligia Eligio Elijah Elin Eline Elisa Elisabet
    Elisabeth Elise Eliseo Elisha Eliza Elizabeth Elize Elke Ella Elladio Ellen Elli Ellie Ellinor Elliot Elliott
    Elly Elma Elmar Elmo Eloah Elodia Eloisa Eloise Eloy Eloá Eloísa Elpidio Elsa Elsbeth Elvia Elvira Elwira
    Elzbieta Elías Elżbieta Ema Emanuel Emanuella Emanuelly Emelina Emer Emigdio Emil Emilia Emiliana Emiliano
    Emilie Emilio Emilly Emily Emin Emine Emir Emma Emmanuel Emmanuelle Emmerich Emmet Emmett Emmi Emmy Emperatriz
    Encarna Encarnacion Encarnación Encarnita Enda Engelbert Engin Ennio Enno Enrico Enrique Enver Enya Enzio Enzo
    Eoghan Eoin Epifanio Eraldo Erasmo Ercan Erdal Erdmute Erdogan Erhard Erhardt Eric Erica Erich Erick Erik Erika
    Erin Erkan Ermanno Ermenegildo Ermes Erna Ernest Ernestine Ernesto Ernst Erol Erwin Eryk Eryn Eshana Esila Esmee
    Esmeralda Esmée Esparta Espartaco Esperanza Espiridión Esteban Estefanía Estela Ester Esther Estrella Eta
    Etelvina Ethan Etta Ettore Euan Eufemia Eugen Eugene Eugenia Eugenie Eugenio Eugène Eulalia Eunan Eusebia
    Eusebio Eustaquio Eutimio Eutropio Eva Evamaria Evan Evangelia Evangelina Evangelista Evangelos Evaristo Eve
    Evelia Evelien Evelin Eveline Evelio Evelyn Evelyne Evi Evie Evita Evy Ewa Ewald Ewan Ewelina Ezequiel Ezio Faas
    Fabia Fabian Fabiana Fabienne Fabio Fabiola Fabián Fabiënne Fabricio Fabrizia Fabrizio Fadime Fainche Faith
    Falak Falan Falguni Falk Falko Fanny Faqid Faraj Faras Farhan Fariq Faris Faruk Fatih Fatima Fatma Faustino
    Fausto Fay Faye Feargal Fearghal Febe Fedde Fedele Federica Federico Federigo Fedor Felicia Feliciana Feliciano
    Felicidad Felicitas Feline Felipa Felipe Felisa Felix Felizitas Fem Femke Fenna Fenne Ferdi Ferdinand Ferdinando
    Ferenc Fergal Fergus Fermín Fernanda Fernando Fiamma Fidel Fidela Fien Fiene Filip Filippa Filippo Filiz
    Filomena Finbar Finn Fintan Fiona Fionntan Fionnuala Fiorenzo Fiorino Fitan Fito Fiyaz Flavia Flavio Fleur
    Floortje Florence Florencia Florencio Florentina Florentine Florentino Florian Florina Florinda Floris Folker
    Folkert Fortunata Fortunato Forum Frado Franca Frances Francesca Francesco Francis Francisca Francisco
    Franciszek Franck Franco Francoise Franjo Franka Franklin Franz Franziska François Françoise Frauke Frazer Fred
    Freddy Frederic Frederick Frederik Frederike Frederique Fredi Fredo Fredy Freia Freya Frida Fridolin Frieda
    Friedbert Friedemann Frieder Friedericke Friederike Friedhelm Friedhilde Friedhold Friedl Friedlinde Friedo
    Friedrich Frithjof Fritz Fryderyk Frédéric Frédérique Fulgencio Fulvio Fátima Féline Félix Gabi Gabino Gabor
    Gabriel Gabriela Gabriele Gabriella Gabrielle Gabrielly Gaby Gael Gaetano Gagan Gail Gaja Gala Galasso Galina
    Galo Ganga Gareth Garima Garrett Garry Gary Gaspar Gaspare Gastone Gastón Gaurang Gaurangi Gaurav Gauri Gaurika
    Gautam Gautami Gavin Gayathri Gebhard Geert Geetika Gelsomina Gema Gemma Genaro Geneviève Genoveva Geoffrey
    Georg George Georges Georgia Georgina Georgine Georgios Gerald Geraldine Geraldo Gerard Gerardo Gerd Gerda Gerdi
    Gereon Gerfried Gerhard Gerhardt Gerhart Gerhild Gerlind Gerlinde German Germana Germán Gernot Gero Gerold
    Gerolf Geronimo Gerrit Gert Gerta Gerti Gertraud Gertraude Gertraut Gertrud Gertrude Gertrudis Gervasio Gerwin
    Gerónimo Gesa Gesche Gesine Geza Giacinto Giacobbe Giacomo Giada Giampaolo Giampiero Gian Giancarlo
    Gianfrancesco Gianfranco Gianluca Gianluigi Gianmarco Gianna Gianni Gianpaolo Gianpietro Giel Giesela Gijs Gil
    Gilbert Gilberto Gilda Giles Gilles Gillian Gina Gino Gioacchino Gioachino Gioele Gioffre Gionata Giorgia
    Giorgio Giosuè Giovanna Giovanni Girik Girindra Girish Girolamo Gisa Gisbert Gisela Gislinde Gitta Gitte Giulia
    Giuliana Giuliano Giulietta Giulio Giuseppe Giuseppina Giustino Glauco Glenda Glenn Gloria Godofredo Goffredo
    Gonzalo Gopal Goran Gordana Gordon Gottfried Gotthard Gotthilf Gotthold Gottlieb Gottlob Goyo Grace Gracia
    Graciana Graciano Graciela Graeme Graham Grainne Grant Graziano Graziella Grazyna Greca Greco Greg Gregg Gregor
    Gregorio Gregory Greta Gretchen Grete Gretel Gretl Griselda Grit Grzegorz Grégoire Guadalupe Guarino Gudrun
    Gudula Guenter Guenther Guglielmo Guido Guilherme Guillaume Guillermina Guillermo Guiomar Guiseppe Gunar Gunbir
    Gunda Gundel Gundi Gundolf Gundula Guneet Gunhild Gunnar Gunter Gunther Guntram Gustav Gustavo Gustaw Gusti Guus
    Guusje Guy Gwendolyn Gérard Gönül Götz Gülay Gülsen Gülten Günter Günther Hadassa Hagen Hailey Hajo Hakan Haley
    Halil Halina Hamish Hamsini Hamza Hanife Hanna Hannah Hannchen Hanne Hannelore Hannes Hanni Hanno Hanns Hanny
    Hans Hansgeorg Hansjoachim Hansjörg Hansjürgen Hanspeter Harald Hardik Hardy Harinakshi Harini Harish Harita
    Harm Harold Haroldo Harri Harriet Harrison Harro Harry Harsh Harshil Hartmut Hartmuth Hartwig Harvey Hasan
    Hassan Hasso Hatice Hayden Haydée Hayleigh Hayley Hazel Heather Hector Hedda Hedi Hedwig Hedy Heide Heidelinde
    Heidelore Heidemarie Heiderose Heidi Heidrun Heike Heiko Heimo Heiner Heinfried Heini Heino Heinrich Heinz
    Heitor Helen Helena Helene Helfried Helga Helge Heliodoro Hella Hellena Hellmut Hellmuth Helma Helmar Helmtrud
    Helmut Helmuth Heloisa Heloísa Hema Hemal Hemang Hemangini Hemani Hendrik Henner Henni Henning Henny Henri
    Henriette Henrik Henrike Henrique Henry Henryk Heraclio Herbert Herberto Heribert Heriberto Herlinde Herma
    Hermann Hermelinda Hermenegildo Hermine Herminia Herminio Hernando Hernán Herrmann Herta Hertha Herwig Hidde
    Hilario Hilary Hilda Hildburg Hilde Hildegard Hildegart Hildegund Hildegunde Hilma Hilmar Hiltraud Hiltrud
    Hinrich Hipólito Hiral Hitesh Holger Hollie Holly Holm Homero Honoré Horacio Horst Hortense Hortensia Howard
    Hredhaan Hritik Hubert Hubertine Hubertus Hugh Hugo Hugues Hulda Humberto Hunter Héctor Hélène Hülya Hüseyin
    Iain Ian Ibrahim Ibán Ida Idika Ignacia Ignacio Ignacy Ignatz Ignaz Ignazio Igor Ijaya Ikbal Iker Ikshita Ilaria
    Ildefonso Ildiko Ileana Ilhan Ilias Ilija Ilja Ilka Ilona Ilonka Ilse Imaran Imelda Imke Immo Imran Imre Ina
    Inaya Indali India Indira Indrajit Indy Ines Inga Ingbert Inge Ingeborg Ingeburg Ingelore Ingetraud Ingetraut
    Ingmar Ingo Ingolf Ingrid Ingried Inka Inken Inmaculada Inna Inocencio Insa Inès Inés Ioannis Iolanda Iona
    Ippazio Ira Irena Irene Irina Irma Irmela Irmengard Irmgard Irmhild Irmi Irmingard Irmtraud Irmtraut Irmtrud
    Irya Isa Isaac Isabel Isabela Isabell Isabella Isabelle Isabelly Isadora Isaiah Isaque Isaura Isaías Ise Isha
    Ishaan Ishani Ishanvi Ishita Ishwar Isidor Isidora Isidoro Isidro Isis Ismael Ismail Ismet Isolde Israel Istvan
    Itzel Itziar Ivan Ivana Ivanka Ivo Ivonne Ivy Iván Iwan Iwo Iwona Ize Jacek Jacinta Jacinto Jack Jackie Jackson
    Jaclyn Jacob Jacobo Jacopo Jacqueline Jacques Jade Jadwiga Jafet Jagat Jagdish Jagrati Jagvi Jai Jaime Jairaj
    Jake Jakob Jakub Jalsa James Jamie Jan Jana Janaki Janani Jane Janet Janett Janette Janice Janin Janina Janine
    Janko Jann Janna Janne Janos Januja Janus Janusz Janya Jaqueline Jared Jari Jarlath Jaroslav Jaroslaw Jasmijn
    Jasmin Jasmina Jasmine Jasmit Jason Jasper Jatin Javi Javier Javiera Jay Jayda Jayde Jayden Jaylinn Jayne Jayson
    Jean Jeanette Jeanne Jeannette Jeannine Jeet Jeevika Jeff Jeffery Jeffrey Jelena Jelle Jelte Jemma Jena Jenaro
    Jenna Jenni Jennifer Jenny Jens Jente Jeremi Jeremiah Jeremy Jeremías Jermaine Jerome Jerry Jerzy Jerónimo
    Jesper Jesse Jessica Jessika Jesus Jesusa Jesús Jhalak Jill Jillian Jim Jimena Jimmy Jinthe Jip Jiri Joachim
    Joan Joana Joann Joanna Joanne Joaquim Joaquina Joaquín Job Jobst Jocelyn Jochem Jochen Jodi Jodie Jody Joe Joel
    Joep Joerg Joey Johan Johann Johanna Johanne Johannes John Johnathan Johnny Jolanda Jolanta Jolanthe Jolene
    Jolie Jolijn Jon Jonas Jonatan Jonathan Jonathon Jonás Joost Jordan Jordana Jordi Jordon Jordy Jordán Jorge
    Joris Jorn Jort Jos Jose Josef Josefa Josefina Josefine Josep Joseph Josephine Josette Josh Joshua Josip Jost
    Josué José Joséphine Jovan Jovita Joy Joyce Jozef João Joël Joëlle Juan Juana Juanita Juanito Jude Judith Judy
    Juergen Jules Julia Julian Juliana Juliane Julianna Julie Julien Julieta Juliette Julio Julita Julius Juliusz
    Julián Juri Jurij Jurre Justin Justina Justine Justus Justyna Jutta Juul Jyoti Jérôme Józef Jörg Jörgen Jörn
    Júlia Jürgen Jędrzej Kabir Kacper Kai Kaique Kaitlin Kaitlyn Kaja Kajetan Kala Kalina Kalpit Kamala Kamil Kamila
    Kamilly Kamya Kane Kara Karan Karen Kari Karin Karina Karl Karla Karley Karlfried Karlheinz Karlijn Karol Karola
    Karolin Karolina Karoline Karsten Kashish Kashvi Kasimir Kaspar Kata Katalin Katarina Katarzyna Kate Katelyn
    Katerina Katharina Katharine Katherina Katherine Kathi Kathleen Kathrin Kathryn Kathy Kati Katie Katja Katrin
    Katrina Katy Kavya Kay Kayla Kaylee Kayleigh Kazim Kazimierz Kealan Keano Keelan Keely Keeva Keith Kelli Kellie
    Kelly Kelsey Kelvin Kemal Kenan Kendra Kenneth Kent Keri Kerri Kerrie Kerry Kerstin Kevin Keya Kiaan Kian Kiara
    Kick Kiera Kieran Kike Kiki Kilian Killian Kim Kimberley Kimberly Kira Kirby Kirk Kirsten Kirstie Kirstin Kirsty
    Klaas Klara Klaudia Klaus Klemens Klothilde Kläre Knud Knut Koen Konrad Konstantin Konstantinos Konstanty
    Konstanze Korbinian Kordula Kori Korinna Kornel Kornelia Kornelius Kreszentia Kreszenz Kriemhild Krish Krisha
    Krishna Krista Kristen Kristi Kristian Kristiane Kristie Kristin Kristina Kristine Kristopher Kristy Kritika
    Krystal Krystian Krystyna Krzysztof Ksawery Kunibert Kunigunda Kunigunde Kuno Kurt Kurtis Kyan Kyano Kyara Kyle
    Kylie Kyra Käte Käthe Käthi Laban Lacey Ladislaus Ladli Laetitia Laila Lajita Laksh Lakshit Lakshmi Lalo Lambert
    Lamberto Lana Lance Lando Laoise Lara Larissa Larry Lars Laszlo Latasha Latoya Laura Laure Laureano Lauren
    Laurence Laurens Laurent Laurenz Lauretta Laurie Lavanya Lavínia Lawrence Lazzaro Laís Lea Leah Leander Leandra
    Leandro Leanne Lee Leela Leena Leif Leigh Leila Leire Lekha Lena Lene Leni Lenn Leo Leocadia Leocadio Leokadia
    Leon Leona Leonard Leonardo Leoncio Leone Leonel Leonhard Leonid Leonie Leonor Leonore Leopold Leopoldine
    Leopoldo Leroy Lesley Leslie Leszek Leticia Letizia Letícia Levi Lewis Lex Leyla Leyre León Lia Liam Liana Liane
    Liberto Libni Licia Lidia Lidija Lidwina Lieke Liesa Liesbeth Lieschen Liesel Lieselotte Lieve Ligia Lila Lili
    Lilia Lilian Liliana Liliane Lilija Lilla Lilli Lilly Lilo Lily Lina Linda Linde Lindsay Lindsey Linn Lino Linus
    Lioba Lipika Lisa Lisandro Lisanne Lisbeth Lise Liselotte Lisette Lissi Lissy Liv Livia Livio Liwia Liz Liza
    Lize Lizz Lizzy Ljiljana Ljubica Ljudmila Lloyd Lodovico Loek Loes Logan Lohit Loida Lois Lola Lolita Loni
    Lonnie Lopa Lope Lorcan Lore Loredana Lorena Lorenz Lorenza Lorenzo Loreto Loretta Lori Lorna Lorraine Lothar
    Lotte Lotti Louis Louise Lourdes Loïs Luan Luana Luara Luc Luca Lucas Lucca Luce Luchino Lucho Lucia Luciana
    Luciano Lucie Lucila Lucinda Lucio Lucky Lucrezia Lucy Lucía Ludger Ludmila Ludmilla Ludovica Ludovico Ludwig
    Ludwina Luigi Luigina Luis Luisa Luise Luisina Luitgard Luiza Luka Lukas Luke Lunna Lupe Lupita Lutz Luuk Luz
    Luzia Luzie Luís Luísa Lydia Lynda Lyndon Lyndsay Lyndsey Lynn Lynne Lynsey Lázaro Léo Léon Lívia Maaike Maanas
    Maanav Maarten Maartje Macarena Macaria Macario Macauley Maciej Mackenzie Madeleine Madelief Madeline Madhav
    Madhavi Madison Madlen Mads Maeve Magarete Magda Magdalena Magdalene Maggie Magnus Magret Magrit Mahika Mahmoud
    Mahmut Maik Maike Mairead Mairtin Maite Maitê Maja Makayla Maks Maksymilian Malachy Malcolm Malena Malgorzata
    Malik Malte Malwina Mamen Manan Manbir Mandy Manfred Manja Manola Manolo Manon Manthan Manu Manuel Manuela
    Manuelita Manuella Manus Manya Mara Marc Marcantonio Marcel Marcela Marcelina Marcelino Marcella Marcelle
    Marcello Marcelo Marcia Marcial Marciano Marcin Marcio Marco Marcos Marcus Mare Mareen Mareike Mareile Marek
    Maren Marga Margaret Margareta Margarete Margaretha Margarethe Margarita Margaud Margaux Margherita Margit
    Margita Margitta Margot Margret Margrit Marguerite Maria Mariah Marian Mariana Mariane Marianela Marianna
    Marianne Mariano Maribel Marica Maricela Maricruz Marie Mariechen Mariele Marieluise Marietta Marija Marijan
    Marijn Marika Marilyn Marina Marine Marino Marinus Mario Mariola Marion Marisa Marisela Marisol Marissa
    Maristela Marit Marita Maritta Marius Mariusz Marjan Marko Markus Marleen Marlen Marlene Marlies Marliese Marlis
    Mart Marta Marten Martha Marthe Martin Martina Martine Martino Martirio Martyn Martín Marvin Mary Maryam Maryse
    Marzena María Mason Massimiliano Massimo Mateo Mateus Mateusz Matheus Mathew Mathias Mathijs Mathilde Matilda
    Matilde Mato Mats Matteo Matthew Matthias Matthieu Matthijs Matthäus Mattia Mattias Matías Maud Maura Maureen
    Maurice Mauricio Maurilio Maurits Maurizio Mauro Maurycy Maxi Maxim Maximiano Maximilian Maximiliano Maximino
    Maxwell Maya Maysa Mayte Mckenzie Meabh Meagan Meaghan Mechthild Mechthilde Mechtild Meera Mees Meg Megan Megha
    Meghan Meghana Mehdi Mehmet Meibh Meik Meike Meinhard Meinolf Meinrad Mekhala Melania Melanie Melchor Melina
    Melinda Melisa Melissa Melita Melitta Melle Melody Melvin Meral Mercedes Merche Meredith Merel Merijn Merle
    Meryem Mesut Metin Mette Mia Micaela Micha Michael Michaela Michaele Michail Michał Micheal Micheala Michel
    Michela Michelangelo Michele Micheletto Michelle Michelotto Michèle Mick Mieszko Miguel Miguela Mijo Mika
    Mikayla Mike Mikhail Mikołaj Mila Milagros Milan Milena Milica Milka Milo Milos Milou Mina Mindy Minerva Minna
    Miodrag Mira Miranda Mirco Mireia Mirella Miriam Mirja Mirjam Mirjana Mirko Miroslav Miroslaw Miroslawa Mirta
    Mirte Mirthe Misty Mitali Mitchel Mitchell Mitesh Mitzy Miłosz Modesta Modesto Mohamed Mohammad Mohammed Mohini
    Moisés Mollie Molly Mona Monica Monika Monique Monja Montserrat Morena Moreno Morgan Moritz Morris Mugdha
    Muhammed Muharrem Murat Murilo Mustafa Muzaffer Myles Myriam Myrthe Máxima Máximo Mónica Nachiket Nacho Nacio
    Nada Nadeschda Nadeshda Nadia Nadin Nadine Nadja Naksh Nakul Nancy Nandini Nando Nanni Naoimh Naoise Naomh Naomi
    Napoleone Narcisa Narciso Natali Natalia Natalie Natalija Natalio Natalja Natan Natanael Nataniel Natascha
    Natasha Natasza Nath Nathalie Nathan Nathaniel Natividad Natália Naud Naveen Nayara Nayeli Nazaret Nazario
    Necati Nedda Neel Neelima Neha Neil Nela Nelli Nelly Nerea Nereida Nermin Netra Nevenka Niall Niamh Nicanor
    Niccolò Nichola Nicholas Nichole Nick Nico Nicodemo Nicola Nicolai Nicolas Nicolasa Nicolaus Nicole Nicoletta
    Nicolás Nicolò Nidhi Nidia Nidra Niek Niels Nienke Nigel Nihal Niharika Nikita Nikki Niklas Niko Nikodem Nikola
    Nikolai Nikolaj Nikolaos Nikolas Nikolaus Nilda Nilima Nilo Nils Nimrat Nina Ninetta Nino Ninthe Nirja Nisa
    Nisha Nitara Nitesh Noa Noah Noel Noelia Noemí Noor Noortje Nora Norah Norbert Norberto Norma Norman Notburga
    Noud Nout Nova Noé Noémi Noël Noëlle Nuala Nuran Nuray Nurettin Nuri Nuria Nurten Nydia Nynke Nélida Néstor
    Obdulia Octavia Octavio Océane Oda Odalis Odalys Odette Odhran Odika Oeshi Ofelia Oisin Ojas Ojasvi Olaf Olalla
    Olav Ole Olegario Olena Olga Olgierd Olimpia Oliver Olivia Olivie Olivier Oliwier Olívia Omaja Omar Omisha
    Omkaar Omya Oni Onkar Onofre Onveer Oonagh Oran Orazio Oreste Orfhlaith Orhan Oriana Orinder Orla Orlagh Orlaigh
    Orlaith Orlando Ornella Ortrud Ortrun Ortwin Oscar Osha Oskar Osman Osvaldo Oswald Oswaldo Oswin Otfried Othmar
    Otilia Otmar Ottavio Ottfried Ottilie Ottmar Otto Ottokar Ottomar Ottone Otávio Ovidio Oviya Owen Oxana Pablo
    Paca Paco Pacífica Padraic Padraig Padraigin Pahal Paige Pallavi Palmira Paloma Pam Pamela Pancho Panfilo Panini
    Paola Paoletta Paolo Paride Parker Parth Pascal Pascale Pascual Pascuala Pasqual Pasquale Pastor Pastora Patric
    Patrice Patricia Patricio Patrick Patrik Patrizia Patrizio Patryk Patty Paul Paula Paulette Paulina Pauline
    Paulino Paulo Pauric Pavani Pavel Pawel Paweł Paz Peadar Pearce Pearse Pedro Peer Peggy Pelayo Pellegrino Penny
    Pepe Pepijn Pepita Pepito Perla Perlita Pero Perry Petar Peter Petra Petrona Petros Phileine Philip Philipp
    Philippe Philippine Phillip Philomena Phoebe Phyllis Pia Piaras Piedad Pien Pier Pierangelo Pierce Piergiorgio
    Piergiuseppe Pierina Pierluigi Piermaria Piero Pierpaolo Pierre Piersanti Pieter Pietra Pietro Pilar Pili Pim
    Pina Piotr Pippa Pirmin Pius Pleun Plinio Plácido Polina Polly Pompeo Pomponio Poncio Pooja Porfirio Pranav
    Praneel Pranit Pratyush Preston Primitiva Primitivo Priscila Priscilla Prisha Priska Priya Prudencia Prudencio
    Przemysław Puccio Puck Puk Purificación Pushti Pánfilo Pénélope Pía Pío Qabil Qadim Qarin Qasim Quincy Quinn
    Quinten Quinty Quique Quirino Qushi Raagini Rabea Rachael Rachana Rachel Rachelle Rachit Rachita Radha Radhika
    Radmila Radosław Rael Raf Rafa Rafael Rafaela Rafaél Rafał Raffaele Raffaella Raffaellino Raffaello Raghav Rahel
    Raik Raimondo Raimund Raimundo Rainer Raisa Raissa Rajata Rajeshri Raksha Ralf Ralph Ramazan Ramiro Ramon Ramona
    Ramón Ranbir Randall Randolf Randy Ranieri Ranveer Raphael Raphaela Raquel Raul Raven Ravi Ravy Rayaan Rayan
    Raymond Raymund Raúl Rebeca Rebecca Rebekah Rebekka Recep Reece Regan Regina Reginald Regine Rehaan Reimar
    Reimer Reimund Reina Reinald Reinaldo Reiner Reingard Reinhard Reinhardt Reinhart Reinhild Reinhilde Reinhold
    Rembrandt Remigio Remo Rena Renan Renata Renate Renato Rene Renee Reni Rens Renske Renzo René Renée Resi Reuben
    Reva Reyansh Reyes Reyna Reynaldo Reza Rhavi Rhian Rhianna Rhianne Rhiannon Rhonda Rhys Ria Rian Ricarda Ricardo
    Riccardo Ricciotti Richard Rick Rickey Ricky Rico Ridhi Rigo Rik Riley Rishi Rita Riya Riza Roan Robbie Robby
    Robert Roberta Roberto Robin Robyn Rocco Rochus Rocío Roderich Rodney Rodolfo Rodrigo Rogelio Roger Rohan Roise
    Roisin Roksana Roland Rolando Roldán Rolf Roman Romana Romeo Romina Romolo Romuald Romy Román Ron Ronald Ronaldo
    Ronan Ronith Ronnie Ronny Roos Roque Rory Rosa Rosalia Rosalie Rosalina Rosalinda Rosalinde Rosalva Rosalía
    Rosaria Rosario Rosaura Rose Roseanna Rosel Roselinde Rosemarie Rosemary Rosenda Rosendo Rosi Rosie Rosina
    Rosita Rosl Rosmarie Ross Rossana Roswita Roswitha Rotraud Rotraut Rouven Rowan Roxana Roy Rozalia Ruairi Ruari
    Ruben Ruby Rubén Rudi Rudolf Rudolph Rudra Rufina Rufino Ruggero Ruggiero Rupert Ruperta Ruperto Rushil Russell
    Ruth Ruthild Ruy Ryan Ryszard Régulo Rémy Rómulo Róża Rüdiger Saanvi Saar Saban Sabas Sabatino Sabina Sabine
    Sabri Sabrina Sacha Sachi Sahin Sai Saksham Salih Sally Salma Salomé Salomón Salvador Salvatore Salvi Sam
    Samaksh Samanta Samantha Samar Samarth Samesh Sami Samir Samira Samu Samuel Sanaya Sancho Sandalio Sander Sandor
    Sandra Sandro Sandy Sanne Sante Santiago Santino Santos Sanya Saoirse Sara Sarah Sarina Sarita Sarthak Sasha
    Saskia Sathvik Saturnina Saturnino Saul Saumya Savannah Saverio Scot Scott Seamus Sean Seana Seanan Seaneen
    Seanna Sebastiaan Sebastian Sebastiano Sebastián Sedat Segismundo Selena Selim Selina Selma Sem Semra Senn Senna
    Senol Senta Seona Sep Sepp Serafina Serafín Serena Serge Sergei Sergej Sergio Sergius Serpil Sessa Seth Seve
    Severiano Severin Severino Severo Sevim Shane Shania Shanice Shanna Shannan Shannen Shannon Shari Sharon Shaun
    Shauna Shauneen Shaurya Shawn Shawna Shay Shea Sheena Sheila Shelby Shelia Shelley Shelly Sheree Sheri Sherri
    Sherry Sheryl Shirley Shivani Shivansh Shona Shravya Sian Sibel Sibilla Sibille Sibylla Sibylle Siddharth
    Siegbert Siegfried Sieghard Sieglinde Siegmar Siegmund Siegrid Siegried Siegrun Siegward Siem Sienna Sigfrido
    Sigfried Sigismund Siglinde Sigmar Sigmund Sigrid Sigrun Sigurd Sil Silja Silke Silva Silvana Silvano Silvester
    Silvestre Silvestro Silvia Silvio Simon Simona Simone Simonetta Simón Sina Sinaida Sinead Siobhan Siofra Siya
    Sjoerd Slavica Slavko Slawomir Slobodan Sneha Sofia Sofie Sofía Soledad Solveig Songül Sonia Sonja Sonya Sophia
    Sophie Soraya Sorcha Sosimo Spencer Stacey Stacie Stacy Stan Stanislaus Stanislav Stanislaw Stanisław Stanley
    Stavros Stef Stefan Stefani Stefania Stefanie Stefano Steffen Steffi Stella Sten Stephan Stephanie Stephany
    Stephen Sterre Steve Steven Stewart Stijn Stilla Stjepan Stuart Stéphane Stéphanie Sudiksha Sue Suhani Susan
    Susana Susanita Susann Susanna Susannah Susanne Suse Susi Suus Suzanne Suze Svea Sven Svenja Svetlana Swantje
    Swen Swetlana Sybilla Sybille Sydney Sylke Sylvana Sylvester Sylvia Sylvie Sylvio Sylwia Szymon Sébastien Sönke
    Sören Sükrü Süleyman Tabea Tabitha Tadeo Tadeusz Tamanna Tamara Tami Tammie Tammy Tanay Tania Tanish Tanja
    Tanmayi Tanner Tanveer Tanvi Tanya Tara Tarak Tasha Tassilo Tatiana Tatjana Taylor Tecla Teerth Tejas Telemaco
    Telmo Telse Temistocle Teo Teobaldo Teodora Teodoro Teodosio Tere Terence Teresa Teresita Terrance Terrence
    Terri Terry Tess Tessa Teun Teófila Teófilo Thaddäus Thales Thea Theda Thekla Theo Theobald Theodor Theodora
    Theodore Theodoro Theodoros Theres Theresa Therese Theresia Thiago Thibault Thibaut Thierry Thies Thijmen Thijn
    Thijs Thilo Thom Thomas Thoralf Thorben Thorsten Théo Théodore Théophile Thérèse Tia Tiarna Tiarnan Tibor
    Tiburcio Tiegan Tiernan Ties Tiffany Tijmen Tijn Tijs Till Tillmann Tilly Tilman Tilmann Tilo Tim Timm Timo
    Timoteo Timothy Timothée Tina Tino Tirza Tito Tiziana Tiziano Tobias Tobiasz Toby Todd Tola Tom Tomas Tomasa
    Tomasz Tomislav Tommy Tomás Toni Tonia Tonicha Tonino Tony Tonya Toralf Torben Tori Toribio Torquato Torsten
    Tory Toño Tracey Traci Tracie Tracy Traude Traudel Traudl Traugott Traute Travis Trevor Tricia Trini Trinidad
    Tripti Tristan Tristán Triveni Triya Troy Trude Trudel Trudi Tullio Turvi Twan Tycho Tygo Tyler Tymon Tymoteusz
    Tyrone Tülay Türkan Ubaldo Uberto Ubika Ucchal Udant Udarsh Udo Udyati Ugo Ugolino Ulf Uli Ulises Ulla Ullrich
    Ulrich Ulrike Umang Umberto Una Undine Unnati Unni Upadhriti Upasna Upkaar Upma Urban Urbano Uriel Urishilla
    Urmi Urs Ursel Ursula Urszula Urte Urvashi Urvi Uschi Uta Ute Utkarsh Utz Uwe Vadim Vaishnavi Vajèn Valentijn
    Valentim Valentin Valentina Valentine Valentín Valeri Valeria Valerie Valerij Valerio Valero Valeska Valérie
    Vamakshi Vanesa Vanessa Vansha Vanya Varenya Varsha Vasana Vasatika Vasco Vassilios Vasudha Veda Vedant Vedhika
    Vedika Veer Veerle Veit Veli Venancio Venceslás Vera Verena Vernon Veronica Veronika Veronique Verónica Vesna
    Vicenta Vicente Vicki Vickie Victoire Victor Victoria Victoriano Victorino Vidal Vidhi Vigo Vihaan Viktor
    Viktoria Vilma Vinaya Vince Vincent Vincentio Vincenza Vincenzo Vinicio Vinicius Vinko Vinzenz Vinícius Viola
    Violeta Violetta Viraj Virgilio Virginia Virginie Viridiana Visitación Vitali Vito Vitor Vittoria Vittorio Vitus
    Vitória Vivaan Viviana Viviane Vladimir Vlado Volker Volkhard Volkmar Vrinda Vrishti Vritti Vyanjana Véronique
    Víctor Wahab Waida Wakeeta Walburga Waldemar Waldtraut Walentina Walfried Walli Wally Walter Walther Waltraud
    Waltraut Waltrud Wanda Warda Warhi Warinder Warjas Warren Watika Wayne Wazir Wencke Wendelin Wendolin Wendy
    Wenke Wenzel Wera Werner Wesley Wessel Whitney Wibke Widisha Wiebke Wieland Wieslaw Wigbert Wiktor Wilfredo
    Wilfrido Wilfried Wilfriede Wilhelm Wilhelmine Willem Willfried Willi William Willibald Willibert Willie Willy
    Wilma Wiltrud Winfried Wishi Witold Wladimir Wojciech Woldemar Wolf Wolfgang Wolfhard Wolfram Wout Wouter
    Wriddhish Wridesh Wulf Wyatt Wálter Xalak Xaver Xavi Xavier Xenia Ximena Xiomara Xiti Yachana Yadavi Yagnesh
    Yago Yahvi Yaiza Yamini Yan Yara Yasemin Yash Yashasvi Yashawini Yashica Yashoda Yashodhara Yashvi Yasmin
    Yasmine Yassin Yasti Yatan Yatin Yauvani Yeni Yesenia Yfke Yilmaz Yinthe Yochana Yolanda Yoshita Youssef Yug
    Yuri Yuridia Yusuf Yutika Yuvraj Yves Yvette Yvonne Yésica Yéssica Zac Zacarías Zach Zacharie Zachary Zaid Zaida
    Zaira Zaitra Zak Zakaria Zansi Zara Zarna Zashil Zayan Zayyan Zbigniew Zdenka Zdravko Zeferino Zehaan Zehra Zeki
    Zeljko Zenon Zenta Zeynep Zilmil Zinal Zita Zlatko Zoe Zoey Zofia Zoltan Zoraida Zoran Zoé Zoë África Ágata
    Ágatha Águeda Álvaro Ámbar Ángel Ángela Ángeles Áurea Änne Édgar Édith Édouard Élisabeth Élise Élodie Éléonore
    Émile Émilie Éric Étienne Íngrid Ísis Íñigo Óliver Óscar Úrsula Łukasz
"""
GIVEN_NAMES: frozenset[str] = frozenset(_NAMES.split())
