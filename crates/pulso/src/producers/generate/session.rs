//! Shopping sessions that walk a funnel: a landing page view, browsing with page views and
//! clicks, searches, add to cart (and sometimes remove from cart), begin checkout and purchase,
//! with drop-off at every stage.
//!
//! The transition probabilities below are estimates, not measurements. They give rates of the
//! order that retail analytics report for Brazilian e-commerce. Roughly 40% of sessions bounce
//! after the landing page, about one in ten adds to cart, and one to two in a hundred buy.

use pulso_core::EventType;
use rand::seq::SliceRandom;
use rand::Rng;
use serde::Serialize;

use super::catalog::{Catalog, SearchTerm};
use super::page::Page;
use crate::producers::wire::UserId;

/// Sessions end after this many events even if they have not left.
const MAX_EVENTS: u32 = 60;
/// Chance that a session leaves right after its landing page (on top of the page's own exit rate).
const BOUNCE: f64 = 0.30;

/// The traffic source of a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    Direct,
    OrganicSearch,
    PaidSearch,
    Social,
    Email,
}

/// (source, referrer, share of sessions).
const SOURCES: &[(Source, Option<&str>, f64)] = &[
    (Source::Direct, None, 0.30),
    (Source::OrganicSearch, Some("https://www.google.com.br/"), 0.30),
    (Source::PaidSearch, Some("https://www.google.com/"), 0.15),
    (Source::Social, Some("https://www.instagram.com/"), 0.12),
    (Source::Social, Some("https://l.facebook.com/"), 0.05),
    (Source::Email, Some("https://mail.google.com/"), 0.08),
];

/// (user agent, share of sessions). Most Brazilian shoppers browse on Android phones.
const USER_AGENTS: &[(&str, f64)] = &[
    ("Mozilla/5.0 (Linux; Android 14; SM-A546E) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36", 0.38),
    ("Mozilla/5.0 (Linux; Android 13; moto g54 5G) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/123.0.0.0 Mobile Safari/537.36", 0.17),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1", 0.15),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36", 0.20),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15", 0.05),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36 Edg/124.0.0.0", 0.05),
];

const PAYMENT_METHODS: &[&str] = &["pix", "cartao_credito", "boleto"];
const PRODUCT_CLICKS: &[&str] = &["galeria", "calcular_frete", "avaliacoes", "descricao", "tabela_de_medidas"];

/// Event properties. Prices are in BRL.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Properties {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub product_id: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub product_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub brand: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub price: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub currency: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quantity: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub element: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub query: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub results: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cart_items: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payment_method: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub installments: Option<u32>,
    /// Filler that makes a message oversized; only on malformed events.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub padding: Option<String>,
}

/// One interaction of a session.
#[derive(Debug, Clone)]
pub struct Step {
    pub event_type: EventType,
    pub page: Page,
    pub properties: Properties,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Location {
    Entry,
    Home,
    Category(usize),
    Product(usize),
    Search(SearchTerm),
    Cart,
    Checkout,
    Confirmation,
}

/// One visitor's session.
#[derive(Debug, Clone)]
pub struct Session {
    pub id: String,
    pub user: UserId,
    pub referrer: Option<&'static str>,
    pub user_agent: &'static str,
    source: Source,
    location: Location,
    cart: Vec<usize>,
    events: u32,
    /// The follow-up of a click, such as the product page after clicking a listing.
    pending: Option<Step>,
}

impl Session {
    pub fn start<R: Rng>(id: String, user: UserId, rng: &mut R) -> Session {
        let &(source, referrer, _) = SOURCES.choose_weighted(rng, |entry| entry.2).expect("sources have weights");
        let &(user_agent, _) = USER_AGENTS.choose_weighted(rng, |entry| entry.1).expect("user agents have weights");
        Session {
            id,
            user,
            referrer,
            user_agent,
            source,
            location: Location::Entry,
            cart: Vec::new(),
            events: 0,
            pending: None,
        }
    }

    /// Takes the session's next interaction, or returns `None` when the visitor leaves.
    pub fn next_step<R: Rng>(&mut self, catalog: &Catalog, rng: &mut R) -> Option<Step> {
        if let Some(step) = self.pending.take() {
            return Some(self.count(step));
        }
        if self.events >= MAX_EVENTS || (self.events == 1 && rng.gen_bool(BOUNCE)) {
            return None;
        }
        let step = match self.location {
            Location::Entry => Some(self.land(catalog, rng)),
            Location::Home => self.after_home(catalog, rng),
            Location::Category(category) => self.after_category(category, catalog, rng),
            Location::Product(product) => self.after_product(product, catalog, rng),
            Location::Search(term) => self.after_search(term, catalog, rng),
            Location::Cart => self.after_cart(catalog, rng),
            Location::Checkout => self.after_checkout(catalog, rng),
            Location::Confirmation => rng.gen_bool(0.15).then(|| self.view_home()),
        }?;
        Some(self.count(step))
    }

    fn count(&mut self, step: Step) -> Step {
        self.events += 1;
        step
    }

    fn land<R: Rng>(&mut self, catalog: &Catalog, rng: &mut R) -> Step {
        let to_product = match self.source {
            Source::Direct => 0.25,
            Source::OrganicSearch => 0.55,
            Source::PaidSearch | Source::Social => 0.85,
            Source::Email => 0.40,
        };
        if rng.gen_bool(to_product) {
            return self.view_product(catalog, catalog.popular_product(rng));
        }
        if self.source == Source::Direct {
            return self.view_home();
        }
        self.view_category(catalog, catalog.popular_category(rng))
    }

    fn after_home<R: Rng>(&mut self, catalog: &Catalog, rng: &mut R) -> Option<Step> {
        let roll: f64 = rng.gen();
        if roll < 0.35 {
            Some(self.view_category(catalog, catalog.popular_category(rng)))
        } else if roll < 0.60 {
            let product = catalog.popular_product(rng);
            Some(self.click_then_view(catalog, Page::path("/".into()), "banner", product))
        } else if roll < 0.80 {
            Some(self.search(catalog, catalog.search_term(rng)))
        } else {
            None
        }
    }

    fn after_category<R: Rng>(&mut self, category: usize, catalog: &Catalog, rng: &mut R) -> Option<Step> {
        let roll: f64 = rng.gen();
        if roll < 0.55 {
            let product = catalog.product_in_category(category, rng);
            Some(self.click_then_view(catalog, Page::path(catalog.category_path(category)), "vitrine", product))
        } else if roll < 0.70 {
            Some(self.view_category(catalog, catalog.popular_category(rng)))
        } else if roll < 0.80 {
            Some(self.search(catalog, catalog.search_term(rng)))
        } else {
            None
        }
    }

    fn after_product<R: Rng>(&mut self, product: usize, catalog: &Catalog, rng: &mut R) -> Option<Step> {
        let roll: f64 = rng.gen();
        if roll < 0.10 {
            Some(self.add_to_cart(catalog, product, rng))
        } else if roll < 0.30 {
            let element = *PRODUCT_CLICKS.choose(rng).expect("clicks are not empty");
            Some(click(Page::path(catalog.product_path(product)), element, product_properties(catalog, product)))
        } else if roll < 0.58 {
            let related = catalog.product_in_category(catalog.product(product).category, rng);
            Some(self.view_product(catalog, related))
        } else if roll < 0.66 {
            Some(self.search(catalog, catalog.search_term(rng)))
        } else if roll < 0.78 && !self.cart.is_empty() {
            Some(self.view_cart())
        } else {
            None
        }
    }

    fn after_search<R: Rng>(&mut self, term: SearchTerm, catalog: &Catalog, rng: &mut R) -> Option<Step> {
        let roll: f64 = rng.gen();
        if roll < 0.65 {
            let product = catalog.product_in_category(term.category, rng);
            Some(self.click_then_view(catalog, search_page(&term), "resultado_busca", product))
        } else if roll < 0.80 {
            Some(self.search(catalog, catalog.search_term(rng)))
        } else {
            None
        }
    }

    fn after_cart<R: Rng>(&mut self, catalog: &Catalog, rng: &mut R) -> Option<Step> {
        let roll: f64 = rng.gen();
        if self.cart.is_empty() || roll >= 0.80 {
            return None;
        }
        if roll < 0.15 {
            Some(self.remove_from_cart(catalog, rng))
        } else if roll < 0.60 {
            Some(self.begin_checkout(catalog))
        } else {
            Some(self.view_product(catalog, catalog.popular_product(rng)))
        }
    }

    fn after_checkout<R: Rng>(&mut self, catalog: &Catalog, rng: &mut R) -> Option<Step> {
        if self.cart.is_empty() || !rng.gen_bool(0.55) {
            return None;
        }
        Some(self.purchase(catalog, rng))
    }

    fn view_home(&mut self) -> Step {
        self.location = Location::Home;
        page_view(Page::path("/".into()), Properties::default())
    }

    fn view_category(&mut self, catalog: &Catalog, category: usize) -> Step {
        self.location = Location::Category(category);
        let properties = Properties { category: Some(catalog.category_slug(category)), ..Properties::default() };
        page_view(Page::path(catalog.category_path(category)), properties)
    }

    fn view_product(&mut self, catalog: &Catalog, product: usize) -> Step {
        self.location = Location::Product(product);
        product_view(catalog, product)
    }

    fn view_cart(&mut self) -> Step {
        self.location = Location::Cart;
        let properties = Properties { cart_items: Some(self.cart.len()), ..Properties::default() };
        page_view(Page::path("/carrinho".into()), properties)
    }

    /// Returns a click on `from` and queues a view of `product` as the session's next step.
    fn click_then_view(&mut self, catalog: &Catalog, from: Page, element: &'static str, product: usize) -> Step {
        let properties = Properties { product_id: Some(catalog.product(product).id), ..Properties::default() };
        let view = self.view_product(catalog, product);
        self.pending = Some(view);
        click(from, element, properties)
    }

    fn search(&mut self, catalog: &Catalog, term: SearchTerm) -> Step {
        self.location = Location::Search(term);
        let properties = Properties {
            query: Some(term.text),
            results: Some(catalog.category_size(term.category)),
            ..Properties::default()
        };
        Step { event_type: EventType::Search, page: search_page(&term), properties }
    }

    fn add_to_cart<R: Rng>(&mut self, catalog: &Catalog, product: usize, rng: &mut R) -> Step {
        self.cart.push(product);
        let mut properties = product_properties(catalog, product);
        properties.quantity = Some(if rng.gen_bool(0.9) { 1 } else { 2 });
        Step { event_type: EventType::AddToCart, page: Page::path(catalog.product_path(product)), properties }
    }

    fn remove_from_cart<R: Rng>(&mut self, catalog: &Catalog, rng: &mut R) -> Step {
        let removed = self.cart.swap_remove(rng.gen_range(0..self.cart.len()));
        let mut properties = product_properties(catalog, removed);
        properties.quantity = Some(1);
        Step { event_type: EventType::RemoveFromCart, page: Page::path("/carrinho".into()), properties }
    }

    fn begin_checkout(&mut self, catalog: &Catalog) -> Step {
        self.location = Location::Checkout;
        let properties = Properties {
            cart_items: Some(self.cart.len()),
            value: Some(self.cart_value(catalog)),
            currency: Some("BRL"),
            ..Properties::default()
        };
        Step { event_type: EventType::BeginCheckout, page: Page::path("/checkout".into()), properties }
    }

    fn purchase<R: Rng>(&mut self, catalog: &Catalog, rng: &mut R) -> Step {
        self.location = Location::Confirmation;
        let payment_method = *PAYMENT_METHODS.choose(rng).expect("payment methods are not empty");
        let installments = if payment_method == "cartao_credito" { rng.gen_range(1..=10) } else { 1 };
        let properties = Properties {
            order_id: Some(format!("PED-{:010}", rng.gen_range(0..10_000_000_000u64))),
            cart_items: Some(self.cart.len()),
            value: Some(self.cart_value(catalog)),
            currency: Some("BRL"),
            payment_method: Some(payment_method),
            installments: Some(installments),
            ..Properties::default()
        };
        self.cart.clear();
        Step { event_type: EventType::Purchase, page: Page::path("/checkout/confirmacao".into()), properties }
    }

    fn cart_value(&self, catalog: &Catalog) -> f64 {
        let cents: u64 = self.cart.iter().map(|&product| catalog.product(product).price_cents).sum();
        cents as f64 / 100.0
    }
}

fn page_view(page: Page, properties: Properties) -> Step {
    Step { event_type: EventType::PageView, page, properties }
}

fn click(page: Page, element: &'static str, mut properties: Properties) -> Step {
    properties.element = Some(element);
    Step { event_type: EventType::Click, page, properties }
}

/// Builds a view of a popular product that moves no session along its funnel, for late events
/// and as the base of malformed ones.
pub fn popular_product_view<R: Rng>(catalog: &Catalog, rng: &mut R) -> Step {
    product_view(catalog, catalog.popular_product(rng))
}

fn product_view(catalog: &Catalog, product: usize) -> Step {
    page_view(Page::path(catalog.product_path(product)), product_properties(catalog, product))
}

fn product_properties(catalog: &Catalog, product: usize) -> Properties {
    let item = catalog.product(product);
    Properties {
        product_id: Some(item.id),
        product_name: Some(item.name.clone()),
        category: Some(catalog.category_slug(item.category)),
        brand: Some(item.brand),
        price: Some(item.price_cents as f64 / 100.0),
        currency: Some("BRL"),
        ..Properties::default()
    }
}

/// `/busca?q=<term>`. The processor keeps `q` only when it is allowlisted.
fn search_page(term: &SearchTerm) -> Page {
    Page { path: "/busca".into(), query: Some(("q", term.slug.to_string())) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;
    use std::collections::HashMap;

    fn run_sessions(count: usize) -> HashMap<EventType, u32> {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let catalog = Catalog::build(&mut rng, 500);
        let mut totals = HashMap::new();
        for index in 0..count {
            let mut session = Session::start(format!("s{index}"), UserId::Number(index as u64), &mut rng);
            while let Some(step) = session.next_step(&catalog, &mut rng) {
                *totals.entry(step.event_type).or_insert(0) += 1;
            }
        }
        totals
    }

    #[test]
    fn funnel_narrows_at_each_stage() {
        let totals = run_sessions(20_000);
        let get = |event_type| totals.get(&event_type).copied().unwrap_or(0);
        assert!(get(EventType::PageView) > 5 * get(EventType::AddToCart), "{totals:?}");
        assert!(get(EventType::AddToCart) > get(EventType::BeginCheckout), "{totals:?}");
        assert!(get(EventType::BeginCheckout) > get(EventType::Purchase), "{totals:?}");
        assert!(get(EventType::Purchase) > 0, "{totals:?}");
        assert!(get(EventType::RemoveFromCart) > 0, "{totals:?}");
        assert!(get(EventType::Search) > 0, "{totals:?}");
        assert!(get(EventType::Click) > 0, "{totals:?}");
    }

    #[test]
    fn conversion_rate_is_plausible() {
        let totals = run_sessions(20_000);
        let purchases = totals.get(&EventType::Purchase).copied().unwrap_or(0);
        let rate = purchases as f64 / 20_000.0;
        assert!((0.003..0.05).contains(&rate), "purchase rate {rate}");
    }

    #[test]
    fn sessions_always_end() {
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let catalog = Catalog::build(&mut rng, 100);
        for index in 0..1000 {
            let mut session = Session::start(format!("s{index}"), UserId::Text("anon".into()), &mut rng);
            let mut steps = 0;
            while session.next_step(&catalog, &mut rng).is_some() {
                steps += 1;
                assert!(steps <= MAX_EVENTS + 1);
            }
            assert!(steps >= 1, "a session has at least its landing page view");
        }
    }

    #[test]
    fn purchase_only_after_checkout() {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let catalog = Catalog::build(&mut rng, 300);
        for index in 0..5000 {
            let mut session = Session::start(format!("s{index}"), UserId::Number(1), &mut rng);
            let mut checked_out = false;
            while let Some(step) = session.next_step(&catalog, &mut rng) {
                checked_out |= step.event_type == EventType::BeginCheckout;
                if step.event_type == EventType::Purchase {
                    assert!(checked_out, "session {index} bought without checkout");
                }
            }
        }
    }
}
