//! The simulated store's catalogue: categories, products with prices in BRL, search terms, and
//! the Zipf-distributed popularity that decides which products and categories sessions visit.
//!
//! Every page path built here is canonical by construction (lowercase ASCII letters, digits
//! and hyphens, no trailing slash), so the page the generator records is the page the
//! processor counts.

use rand::seq::SliceRandom;
use rand::Rng;
use rand_distr::{Distribution, Zipf};

/// Zipf exponent of product and category popularity. Around 1 gives the long tail typical of
/// e-commerce, where the top product gets many times the views of the median one.
const POPULARITY_EXPONENT: f64 = 1.1;

/// Product types of a category: URL slug and display name in Portuguese.
type Nouns = &'static [(&'static str, &'static str)];

struct CategorySpec {
    slug: &'static str,
    nouns: Nouns,
    brands: &'static [&'static str],
    /// Price range in centavos.
    price_cents: (u64, u64),
}

const CATEGORIES: &[CategorySpec] = &[
    CategorySpec {
        slug: "celulares",
        nouns: &[
            ("smartphone", "Smartphone"),
            ("capinha", "Capinha"),
            ("carregador-turbo", "Carregador Turbo"),
            ("pelicula", "Película"),
        ],
        brands: &["samsung", "motorola", "xiaomi", "apple"],
        price_cents: (2_990, 899_900),
    },
    CategorySpec {
        slug: "eletronicos",
        nouns: &[
            ("smart-tv", "Smart TV"),
            ("fone-bluetooth", "Fone Bluetooth"),
            ("caixa-de-som", "Caixa de Som"),
            ("soundbar", "Soundbar"),
        ],
        brands: &["samsung", "lg", "jbl", "philips"],
        price_cents: (9_990, 499_900),
    },
    CategorySpec {
        slug: "informatica",
        nouns: &[
            ("notebook", "Notebook"),
            ("mouse-sem-fio", "Mouse sem Fio"),
            ("teclado-mecanico", "Teclado Mecânico"),
            ("monitor", "Monitor"),
            ("ssd", "SSD"),
        ],
        brands: &["dell", "lenovo", "acer", "logitech", "kingston"],
        price_cents: (4_990, 699_900),
    },
    CategorySpec {
        slug: "eletrodomesticos",
        nouns: &[
            ("geladeira", "Geladeira"),
            ("micro-ondas", "Micro-ondas"),
            ("maquina-de-lavar", "Máquina de Lavar"),
            ("air-fryer", "Air Fryer"),
            ("liquidificador", "Liquidificador"),
        ],
        brands: &["brastemp", "consul", "electrolux", "mondial", "philco"],
        price_cents: (12_990, 599_900),
    },
    CategorySpec {
        slug: "moda-feminina",
        nouns: &[("vestido", "Vestido"), ("blusa", "Blusa"), ("calca-jeans", "Calça Jeans"), ("saia", "Saia")],
        brands: &["renner", "riachuelo", "hering", "marisa"],
        price_cents: (3_990, 29_990),
    },
    CategorySpec {
        slug: "moda-masculina",
        nouns: &[
            ("camiseta", "Camiseta"),
            ("bermuda", "Bermuda"),
            ("camisa-polo", "Camisa Polo"),
            ("jaqueta", "Jaqueta"),
        ],
        brands: &["reserva", "hering", "aramis", "colcci"],
        price_cents: (3_990, 39_990),
    },
    CategorySpec {
        slug: "calcados",
        nouns: &[
            ("tenis-corrida", "Tênis de Corrida"),
            ("chinelo", "Chinelo"),
            ("sandalia", "Sandália"),
            ("bota", "Bota"),
        ],
        brands: &["nike", "adidas", "olympikus", "havaianas"],
        price_cents: (2_990, 79_990),
    },
    CategorySpec {
        slug: "casa-e-decoracao",
        nouns: &[
            ("jogo-de-cama", "Jogo de Cama"),
            ("toalha", "Toalha de Banho"),
            ("luminaria", "Luminária"),
            ("tapete", "Tapete"),
        ],
        brands: &["santista", "buddemeyer", "camesa", "altenburg"],
        price_cents: (2_990, 59_990),
    },
    CategorySpec {
        slug: "esporte-e-lazer",
        nouns: &[
            ("bicicleta", "Bicicleta"),
            ("halter", "Halter"),
            ("bola-de-futebol", "Bola de Futebol"),
            ("barraca", "Barraca"),
        ],
        brands: &["caloi", "penalty", "nautika", "kikos"],
        price_cents: (4_990, 299_900),
    },
    CategorySpec {
        slug: "beleza-e-perfumaria",
        nouns: &[
            ("perfume", "Perfume"),
            ("shampoo", "Shampoo"),
            ("protetor-solar", "Protetor Solar"),
            ("batom", "Batom"),
        ],
        brands: &["natura", "boticario", "loreal", "nivea"],
        price_cents: (1_990, 49_990),
    },
    CategorySpec {
        slug: "brinquedos",
        nouns: &[
            ("boneca", "Boneca"),
            ("carrinho", "Carrinho de Controle"),
            ("quebra-cabeca", "Quebra-cabeça"),
            ("blocos-de-montar", "Blocos de Montar"),
        ],
        brands: &["estrela", "mattel", "hasbro", "lego"],
        price_cents: (2_990, 89_990),
    },
    CategorySpec {
        slug: "games",
        nouns: &[("console", "Console"), ("controle", "Controle"), ("jogo", "Jogo")],
        brands: &["sony", "microsoft", "nintendo"],
        price_cents: (14_990, 499_900),
    },
    CategorySpec {
        slug: "livros",
        nouns: &[("livro", "Livro"), ("box-de-livros", "Box de Livros"), ("leitor-digital", "Leitor Digital")],
        brands: &["companhia-das-letras", "intrinseca", "rocco", "amazon"],
        price_cents: (2_490, 79_990),
    },
    CategorySpec {
        slug: "pet-shop",
        nouns: &[("racao", "Ração"), ("arranhador", "Arranhador"), ("coleira", "Coleira")],
        brands: &["pedigree", "whiskas", "golden", "premier"],
        price_cents: (1_990, 29_990),
    },
    CategorySpec {
        slug: "ferramentas",
        nouns: &[("furadeira", "Furadeira"), ("parafusadeira", "Parafusadeira"), ("jogo-de-chaves", "Jogo de Chaves")],
        brands: &["bosch", "makita", "tramontina", "vonder"],
        price_cents: (3_990, 99_990),
    },
    CategorySpec {
        slug: "moveis",
        nouns: &[
            ("sofa", "Sofá"),
            ("cadeira-gamer", "Cadeira Gamer"),
            ("mesa-de-jantar", "Mesa de Jantar"),
            ("guarda-roupa", "Guarda-roupa"),
        ],
        brands: &["tok", "mobly", "madesa", "thunderx3"],
        price_cents: (19_990, 599_900),
    },
];

const MODELS: &[&str] = &["basico", "plus", "pro", "max", "lite", "premium", "2024", "x", "slim", "ultra"];

/// One product of the catalogue.
#[derive(Debug, Clone)]
pub struct Product {
    pub id: u32,
    /// URL slug without the id, such as `tenis-corrida-nike-pro`.
    pub slug: String,
    /// Display name with accents, such as `Tênis de Corrida Nike Pro`.
    pub name: String,
    pub category: usize,
    pub brand: &'static str,
    pub price_cents: u64,
}

/// A search term: the URL-safe query value, the text the user typed and the category whose
/// products the results show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SearchTerm {
    pub slug: &'static str,
    pub text: &'static str,
    pub category: usize,
}

/// Categories, products and their popularity, built deterministically from a random generator.
#[derive(Debug)]
pub struct Catalog {
    products: Vec<Product>,
    /// Product indexes, most popular first.
    by_rank: Vec<usize>,
    /// Product indexes of each category, most popular first.
    by_category: Vec<Vec<usize>>,
    product_popularity: Zipf<f64>,
    category_popularity: Zipf<f64>,
    search_terms: Vec<SearchTerm>,
}

impl Catalog {
    /// Builds a catalogue of `product_count` products (at least one per category).
    pub fn build<R: Rng>(rng: &mut R, product_count: usize) -> Catalog {
        let product_count = product_count.max(CATEGORIES.len());
        let products: Vec<Product> = (0..product_count).map(|index| build_product(rng, index)).collect();
        let mut by_rank: Vec<usize> = (0..products.len()).collect();
        by_rank.shuffle(rng);
        let mut by_category = vec![Vec::new(); CATEGORIES.len()];
        for &index in &by_rank {
            by_category[products[index].category].push(index);
        }
        Catalog {
            product_popularity: zipf(products.len()),
            category_popularity: zipf(CATEGORIES.len()),
            products,
            by_rank,
            by_category,
            search_terms: search_terms(),
        }
    }

    pub fn product(&self, index: usize) -> &Product {
        &self.products[index]
    }

    pub fn category_slug(&self, category: usize) -> &'static str {
        CATEGORIES[category].slug
    }

    /// Draws a product by popularity over the whole catalogue.
    pub fn popular_product<R: Rng>(&self, rng: &mut R) -> usize {
        self.by_rank[sample_rank(&self.product_popularity, rng)]
    }

    /// Draws a category by popularity.
    pub fn popular_category<R: Rng>(&self, rng: &mut R) -> usize {
        sample_rank(&self.category_popularity, rng)
    }

    /// Draws a product of `category` by popularity within the category.
    pub fn product_in_category<R: Rng>(&self, category: usize, rng: &mut R) -> usize {
        let members = &self.by_category[category];
        let rank = sample_rank(&zipf(members.len()), rng);
        members[rank]
    }

    pub fn search_term<R: Rng>(&self, rng: &mut R) -> SearchTerm {
        *self.search_terms.choose(rng).expect("every category has search terms")
    }

    /// Products in a category: the result count a search page shows.
    pub fn category_size(&self, category: usize) -> usize {
        self.by_category[category].len()
    }

    /// `/produto/<slug>-<id>`.
    pub fn product_path(&self, index: usize) -> String {
        let product = &self.products[index];
        format!("/produto/{}-{}", product.slug, product.id)
    }

    /// `/categoria/<slug>`.
    pub fn category_path(&self, category: usize) -> String {
        format!("/categoria/{}", CATEGORIES[category].slug)
    }
}

fn build_product<R: Rng>(rng: &mut R, index: usize) -> Product {
    // The first products cover every category once, so no category is empty.
    let category = if index < CATEGORIES.len() { index } else { rng.gen_range(0..CATEGORIES.len()) };
    let spec = &CATEGORIES[category];
    let (noun_slug, noun_name) = *spec.nouns.choose(rng).expect("every category has nouns");
    let brand = *spec.brands.choose(rng).expect("every category has brands");
    let model = *MODELS.choose(rng).expect("models are not empty");
    // Ids grow with the index and leave gaps, like a real catalogue after deletions.
    let id = 100_000 + index as u32 * 37 + rng.gen_range(0..37);
    Product {
        id,
        slug: format!("{noun_slug}-{brand}-{model}"),
        name: format!("{noun_name} {} {}", capitalize(brand), capitalize(model)),
        category,
        brand,
        price_cents: round_price(rng.gen_range(spec.price_cents.0..=spec.price_cents.1)),
    }
}

/// Rounds to a price ending in ,90, as Brazilian shops price.
fn round_price(cents: u64) -> u64 {
    (cents / 100) * 100 + 90
}

fn capitalize(word: &str) -> String {
    let mut characters = word.chars();
    match characters.next() {
        Some(first) => first.to_uppercase().chain(characters).collect(),
        None => String::new(),
    }
}

fn search_terms() -> Vec<SearchTerm> {
    let mut terms = Vec::new();
    for (category, spec) in CATEGORIES.iter().enumerate() {
        for &(slug, text) in spec.nouns {
            terms.push(SearchTerm { slug, text, category });
        }
    }
    terms
}

fn zipf(size: usize) -> Zipf<f64> {
    Zipf::new(size.max(1) as u64, POPULARITY_EXPONENT).expect("size >= 1 and exponent > 0")
}

/// Draws a 0-based rank from `distribution`, which yields 1 to n.
fn sample_rank<R: Rng>(distribution: &Zipf<f64>, rng: &mut R) -> usize {
    distribution.sample(rng) as usize - 1
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn catalog() -> Catalog {
        Catalog::build(&mut ChaCha8Rng::seed_from_u64(7), 2000)
    }

    #[test]
    fn product_ids_unique() {
        let catalog = catalog();
        let mut ids: Vec<u32> = catalog.products.iter().map(|product| product.id).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), 2000);
    }

    #[test]
    fn every_category_has_products() {
        let catalog = catalog();
        for (category, members) in catalog.by_category.iter().enumerate() {
            assert!(!members.is_empty(), "category {}", catalog.category_slug(category));
        }
    }

    #[test]
    fn paths_use_only_canonical_characters() {
        let catalog = catalog();
        for index in 0..2000 {
            let path = catalog.product_path(index);
            assert!(
                path.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'/'),
                "{path}"
            );
        }
    }

    #[test]
    fn popularity_is_skewed() {
        let catalog = catalog();
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut views = vec![0u32; 2000];
        for _ in 0..100_000 {
            views[catalog.popular_product(&mut rng)] += 1;
        }
        views.sort_unstable_by(|a, b| b.cmp(a));
        let median = views[1000].max(1);
        assert!(views[0] > 50 * median, "top {} median {}", views[0], views[1000]);
    }

    #[test]
    fn prices_end_in_ninety_centavos() {
        let catalog = catalog();
        assert!(catalog.products.iter().all(|product| product.price_cents % 100 == 90));
    }
}
