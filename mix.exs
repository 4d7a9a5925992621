defmodule Linx.MixProject do
  use Mix.Project

  @version "0.3.0"

  def project do
    [
      app: :linx,
      version: @version,
      elixir: "~> 1.15",
      start_permanent: Mix.env() == :prod,
      # The native compiler runs after the Elixir sources, so its own module
      # (lib/mix/tasks/compile.linx_native.ex) is compiled and available.
      compilers: Mix.compilers() ++ [:linx_native],
      elixirc_paths: elixirc_paths(Mix.env()),
      deps: [],
      package: package(),
      description:
        "Linux kernel-interface primitives for Elixir: netlink, nf_tables, " <>
          "namespaces, cgroups, mounts, capabilities, seccomp, PTYs.",
      source_url: "https://github.com/oshlabs/linx",
      docs: [main: "readme"]
    ]
  end

  def application do
    [extra_applications: [:logger]]
  end

  defp elixirc_paths(:test), do: ["lib", "test/support"]
  defp elixirc_paths(_), do: ["lib"]

  # What a hex tarball needs to build from source: the Elixir sources, the Rust
  # workspace with its lock file, and the Makefile/scripts that drive set-up.
  defp package do
    [
      licenses: ["Apache-2.0"],
      links: %{},
      files:
        ~w(lib native Cargo.toml Cargo.lock Makefile scripts README.md mix.exs .formatter.exs)
    ]
  end
end
