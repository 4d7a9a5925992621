defmodule Linx.MACTest do
  use ExUnit.Case, async: true

  import ExUnit.CaptureIO
  import Linx.MAC, only: [sigil_MAC: 2]

  alias Linx.MAC

  doctest Linx.MAC

  @random_count 10_000
  @inspect_sample 300

  setup do
    :rand.seed(:exsss, {ExUnit.configuration()[:seed], 1, 2})
    :ok
  end

  describe "parse/1" do
    test "accepts six parts of one or two hex digits, any case" do
      for {input, bytes} <- [
            {"02:aa:bb:cc:dd:ee", <<0x02, 0xAA, 0xBB, 0xCC, 0xDD, 0xEE>>},
            {"02:AA:Bb:cC:DD:ee", <<0x02, 0xAA, 0xBB, 0xCC, 0xDD, 0xEE>>},
            {"0:1:2:3:4:5", <<0, 1, 2, 3, 4, 5>>},
            {"00:00:00:00:00:00", <<0::48>>},
            {"ff:ff:ff:ff:ff:ff", <<0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF>>},
            {"a:0b:c:0d:e:f0", <<0x0A, 0x0B, 0x0C, 0x0D, 0x0E, 0xF0>>}
          ] do
        assert MAC.parse(input) == {:ok, %MAC{bytes: bytes}}, input
      end
    end

    test "rejects everything else with {:bad_mac, input}" do
      for input <- [
            "",
            ":::::",
            "02:aa:bb:cc:dd",
            "02:aa:bb:cc:dd:ee:ff",
            "02:aa:bb:cc:dd:",
            ":02:aa:bb:cc:dd",
            "02:aa:bb:cc::ee",
            "02:aa:bb:cc:dd:eee",
            "002:aa:bb:cc:dd:ee",
            "000a:aa:bb:cc:dd:ee",
            "+2:aa:bb:cc:dd:ee",
            "-2:aa:bb:cc:dd:ee",
            "0x:aa:bb:cc:dd:ee",
            "02:aa:bb:cc:dd:eg",
            "02:aa:bb:cc:dd:e ",
            " 02:aa:bb:cc:dd:ee",
            "02:aa:bb:cc:dd:ee\n",
            "02-aa-bb-cc-dd-ee",
            "02aa.bbcc.ddee",
            "02aabbccddee",
            "02:aa:bb-cc:dd:ee",
            "02:aa:bb:cc:dd:٣"
          ] do
        assert MAC.parse(input) == {:error, {:bad_mac, input}},
               "expected #{inspect(input)} to be rejected"
      end
    end

    test "raises ArgumentError naming a non-binary argument" do
      for bad <- [nil, ~c"02:aa:bb:cc:dd:ee", <<1::3>>, 42, {:mac, 1}] do
        error = assert_raise ArgumentError, fn -> MAC.parse(bad) end
        assert error.message =~ inspect(bad)
      end
    end
  end

  describe "parse!/1" do
    test "returns the address or raises ArgumentError naming the input" do
      assert MAC.parse!("02:aa:bb:cc:dd:ee") == ~MAC"02:aa:bb:cc:dd:ee"

      assert_raise ArgumentError, ~r/"02-aa-bb-cc-dd-ee"/, fn ->
        MAC.parse!("02-aa-bb-cc-dd-ee")
      end

      assert_raise ArgumentError, fn -> MAC.parse!(nil) end
    end
  end

  describe "to_string/1, String.Chars, Inspect" do
    test "lowercase, zero-padded" do
      assert MAC.to_string(~MAC"2:A:b:C:0:FF") == "02:0a:0b:0c:00:ff"
      assert "lladdr #{~MAC"02:AA:BB:CC:DD:EE"}" == "lladdr 02:aa:bb:cc:dd:ee"
      assert inspect(~MAC"02:AA:BB:CC:DD:EE") == ~s(~MAC"02:aa:bb:cc:dd:ee")
    end

    test "to_string/1 raises and Inspect falls back for a malformed struct" do
      assert_raise ArgumentError, fn -> MAC.to_string(%MAC{bytes: <<1, 2, 3>>}) end
      assert inspect(%MAC{bytes: <<1, 2, 3>>}) =~ "%Linx.MAC{"
    end
  end

  describe "classification" do
    test "broadcast?/1, multicast?/1, local?/1" do
      for {mac, broadcast, multicast, local} <- [
            {~MAC"ff:ff:ff:ff:ff:ff", true, true, true},
            {~MAC"01:00:5e:00:00:fb", false, true, false},
            {~MAC"33:33:00:00:00:01", false, true, true},
            {~MAC"02:42:ac:11:00:02", false, false, true},
            {~MAC"00:1b:21:3a:4b:5c", false, false, false},
            {~MAC"fe:ff:ff:ff:ff:ff", false, false, true},
            {~MAC"ff:ff:ff:ff:ff:fe", false, true, true}
          ] do
        assert MAC.broadcast?(mac) == broadcast, inspect(mac)
        assert MAC.multicast?(mac) == multicast, inspect(mac)
        assert MAC.local?(mac) == local, inspect(mac)
      end
    end
  end

  describe "compare/2" do
    test "orders numerically" do
      assert MAC.compare(~MAC"00:00:00:00:00:01", ~MAC"00:00:00:00:00:02") == :lt
      assert MAC.compare(~MAC"01:00:00:00:00:00", ~MAC"00:ff:ff:ff:ff:ff") == :gt
      assert MAC.compare(~MAC"aa:bb:cc:dd:ee:ff", ~MAC"AA:BB:CC:DD:EE:FF") == :eq

      assert Enum.sort([~MAC"02:00:00:00:00:10", ~MAC"02:00:00:00:00:02"], MAC) ==
               [~MAC"02:00:00:00:00:02", ~MAC"02:00:00:00:00:10"]
    end
  end

  describe "encode/1 and decode/1" do
    test "round trip six bytes" do
      assert MAC.encode(~MAC"02:aa:bb:cc:dd:ee") == <<2, 0xAA, 0xBB, 0xCC, 0xDD, 0xEE>>
      assert MAC.decode(<<2, 0xAA, 0xBB, 0xCC, 0xDD, 0xEE>>) == ~MAC"02:aa:bb:cc:dd:ee"
    end

    test "decode/1 answers nil for other lengths and non-binaries, never raising" do
      # empty (incomplete neighbour), tunnel 4/16 bytes, InfiniBand 20 bytes, ...
      for len <- Enum.to_list(0..32) -- [6] do
        assert MAC.decode(:crypto.strong_rand_bytes(len)) == nil, "length #{len}"
      end

      for other <- [nil, <<1::47>>, <<1::49>>, 42, "02:aa:bb:cc:dd:ee", {1, 2, 3, 4, 5, 6}] do
        assert MAC.decode(other) == nil
      end
    end
  end

  describe "sigil_MAC/2" do
    test "builds the struct at compile time" do
      assert ~MAC"02:aa:bb:cc:dd:ee" == %MAC{bytes: <<2, 0xAA, 0xBB, 0xCC, 0xDD, 0xEE>>}
    end

    test "a bad literal fails compilation, naming it" do
      for literal <- ["02:aa:bb:cc:dd", "02-aa-bb-cc-dd-ee", "02:aa:bb:cc:dd:eee"] do
        message = ~s(invalid ~MAC sigil "#{literal}": expected six colon-separated hex bytes)

        assert_raise ArgumentError, message, fn ->
          compile_quietly("""
          defmodule Linx.MACTest.BadSigil do
            import Linx.MAC, only: [sigil_MAC: 2]
            def mac, do: ~MAC"#{literal}"
          end
          """)
        end
      end
    end

    test "modifiers are rejected at compile time" do
      assert_raise ArgumentError, ~r/invalid ~MAC sigil "02:aa:bb:cc:dd:ee": modifiers/, fn ->
        compile_quietly("""
        defmodule Linx.MACTest.BadModifier do
          import Linx.MAC, only: [sigil_MAC: 2]
          def mac, do: ~MAC"02:aa:bb:cc:dd:ee"u
        end
        """)
      end
    end
  end

  # ---------------------------------------------------------------------------
  # Seeded random tests

  describe "random MACs" do
    test "format matches an independent formatter and parse round-trips" do
      for _ <- 1..@random_count do
        bytes = random_bytes()
        mac = MAC.decode(bytes)
        text = MAC.to_string(mac)

        assert text == reference_format(bytes)
        assert MAC.parse(text) == {:ok, mac}
        assert MAC.parse(String.upcase(text)) == {:ok, mac}
        assert MAC.parse(loose_render(bytes)) == {:ok, mac}
        assert MAC.encode(mac) == bytes

        <<first, _::binary>> = bytes
        assert MAC.multicast?(mac) == (rem(first, 2) == 1)
        assert MAC.local?(mac) == (rem(div(first, 2), 2) == 1)
      end
    end
  end

  describe "Inspect round trip" do
    test "inspect output evaluates back to the same value" do
      values = for _ <- 1..@inspect_sample, do: MAC.decode(random_bytes())

      source =
        "import Linx.MAC, only: [sigil_MAC: 2]\n[" <>
          Enum.map_join(values, ", ", &inspect/1) <> "]"

      assert {^values, _} = Code.eval_string(source)
    end
  end

  # ---------------------------------------------------------------------------
  # Helpers

  defp compile_quietly(source) do
    capture_io(:stderr, fn -> send(self(), {:compiled, Code.compile_string(source)}) end)
  end

  defp random_bytes do
    for _ <- 1..6, into: <<>> do
      case :rand.uniform(5) do
        1 -> <<0>>
        2 -> <<:rand.uniform(16) - 1>>
        3 -> <<255>>
        _ -> <<:rand.uniform(256) - 1>>
      end
    end
  end

  # Independent of Linx.MAC: Erlang's io_lib formatting.
  defp reference_format(bytes) do
    bytes
    |> :binary.bin_to_list()
    |> Enum.map(&:io_lib.format(~c"~2.16.0b", [&1]))
    |> Enum.intersperse(":")
    |> IO.iodata_to_binary()
  end

  # Unpadded or padded parts, in random letter case.
  defp loose_render(bytes) do
    bytes
    |> :binary.bin_to_list()
    |> Enum.map_join(":", fn b ->
      hex = Integer.to_string(b, 16)
      hex = if :rand.uniform(2) == 1, do: String.pad_leading(hex, 2, "0"), else: hex
      if :rand.uniform(2) == 1, do: String.downcase(hex), else: hex
    end)
  end
end
